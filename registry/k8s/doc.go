// Package k8s resolves Kitex targets from Kubernetes EndpointSlices and
// drains Kitex servers running in pods, on top of kitexsuite's shared
// discovery core. It has the same shape as registry/etcd and
// registry/consul.
//
// # Resolver
//
// [NewResolver] is a discovery.Resolver for client.WithResolver. Targets
// are "name.namespace:port" (also name.namespace.svc[.cluster.local]:port;
// the namespace defaults to "default"; the port is the endpoint's port
// number or the Service port's name, and may be omitted when the slices
// carry one port). Each target Service is followed by an EndpointSlice
// informer (discovery.k8s.io/v1) that lists and watches only its slices
// ([WithNamespaceInformer] shares one per namespace), and a service's
// instances are merged from **all** its slices — a Service with more than
// 100 pods has several; a dual-stack Service lists each pod once, at its
// IPv4 address unless [WithAddressFamily] says otherwise. A target's port
// is the endpoint's (the Service's targetPort) or the port's name: the
// Service port of a Service whose targetPort differs, or no port on a
// multi-port Service, is a [*TargetError] naming the ports there are.
// Endpoints that are ready, serving and not terminating receive calls
// (serving keeps the pod's readiness on a Service with
// publishNotReadyAddresses, whose endpoints are always reported ready);
// [WithServingTerminating] falls back to serving terminating endpoints
// when none is ready. Zone, node name and pod name become the instance tags
// "zone", "node" and "pod"; the [WeightAnnotation] on a slice sets its
// endpoints' weight. While the API server is unreachable the informer keeps
// its last state and the resolver serves it.
//
// The clientset comes from rest.InClusterConfig() in a pod (the pod's
// ServiceAccount token) or from clientcmd with a kubeconfig elsewhere. The
// resolver needs get, list and watch on endpointslices in the target
// namespaces (rbac/client.yaml); a refusal is a [*PermissionError] naming
// that rule.
//
// # Registry: draining a pod
//
// [NewRegistry] in a pod (POD_NAME and POD_NAMESPACE from the downward API,
// or [WithPod]) flips the readiness gate condition [DefaultReadinessGate]:
// True on Register, False on Deregister — which Kitex calls first thing in
// Stop. Deregister then waits until no EndpointSlice lists the pod as a
// ready endpoint (observed through the API, at most [WithDrainTimeout])
// before Kitex closes the listener, so clients stop picking the pod before
// it stops answering. The pod spec must list the gate under
// spec.readinessGates (rbac/server.yaml shows it and the RBAC rules).
//
// # Registry: processes outside pods
//
// With [WithManagedEndpointSlice], a process on a VM or a laptop registers
// itself as an endpoint of a selector-less Service, in an EndpointSlice the
// registry owns (managed-by [ManagedBy]) and renews every third of
// [WithTTL]; resolvers ignore it once the renewal is older than the TTL, so
// a crashed process disappears. Deregister deletes it.
package k8s
