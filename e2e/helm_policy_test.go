package e2e

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/kitexsuite/suite/e2e/harness"
)

// checkOwnPodStatusPolicy installs the chart's RBAC and own-pod status
// policy for real, creates two orders pods (nothing runs them: there is
// no kubelet), and patches pods/status as registry/k8s does, with
// ServiceAccount tokens as a pod gets them: bound to a pod. A token bound
// to orders-a may set orders-a's readiness gate; it is denied on
// orders-b, and a token bound to no pod is denied on either. Until the
// policy is loaded (the API server watches policies) the denial may lag:
// the test waits for it.
func checkOwnPodStatusPolicy(t *testing.T, kube *harness.Kube, cs *kubernetes.Clientset, dry *serverDryRun, helm *helmCLI) {
	const ns = "helm-own-pod-status"
	kube.CreateNamespace(t, ns)
	objs := helm.template(t, ns)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	for _, obj := range objs {
		switch obj.GetKind() {
		case "ServiceAccount", "Role", "RoleBinding", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding":
			if err := dry.createForReal(ctx, ns, obj); err != nil {
				t.Fatalf("create %s/%s: %v", obj.GetKind(), obj.GetName(), err)
			}
		}
	}
	policy := "demo-" + ns + "-kitexsuite-own-pod-status"
	t.Cleanup(func() {
		ctx := context.Background()
		_ = cs.AdmissionregistrationV1().ValidatingAdmissionPolicyBindings().Delete(ctx, policy, metav1.DeleteOptions{})
		_ = cs.AdmissionregistrationV1().ValidatingAdmissionPolicies().Delete(ctx, policy, metav1.DeleteOptions{})
	})
	var orders *appsv1.Deployment
	for _, d := range deployments(t, objs) {
		if d.Name == "orders" {
			orders = d
		}
	}
	pods := map[string]*corev1.Pod{}
	for _, name := range []string{"orders-a", "orders-b"} {
		p, err := cs.CoreV1().Pods(ns).Create(ctx, podOf(orders, name), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		pods[name] = p
	}
	tokenFor := func(pod *corev1.Pod) string {
		req := &authenticationv1.TokenRequest{}
		if pod != nil {
			req.Spec.BoundObjectRef = &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID}
		}
		tr, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, "orders", req, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return tr.Status.Token
	}
	clientFor := func(token string) *kubernetes.Clientset {
		c, err := kubernetes.NewForConfig(kube.ConfigForToken(token))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	asA, unbound := clientFor(tokenFor(pods["orders-a"])), clientFor(tokenFor(nil))
	// The patch registry/k8s sends on Register.
	patch := []byte(`{"status":{"conditions":[{"type":"kitexsuite.io/serving","status":"True","reason":"Registered"}]}}`)
	setGate := func(c *kubernetes.Clientset, pod string) error {
		_, err := c.CoreV1().Pods(ns).Patch(ctx, pod, types.StrategicMergePatchType, patch, metav1.PatchOptions{}, "status")
		return err
	}
	deniedByPolicy := func(err error) bool {
		return apierrors.IsForbidden(err) && strings.Contains(err.Error(), policy) &&
			strings.Contains(err.Error(), "kitexsuite: system:serviceaccount:"+ns+":orders may update only the status of the pod its token is bound to, not orders-b")
	}
	deadline := time.Now().Add(time.Minute)
	for {
		err := setGate(asA, "orders-b")
		if deniedByPolicy(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("orders-a's token patching orders-b's status: %v; want the policy's denial within a minute", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := setGate(asA, "orders-a"); err != nil {
		t.Errorf("orders-a's token patching its own pod's status: %v", err)
	}
	got, err := cs.CoreV1().Pods(ns).Get(ctx, "orders-a", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(got.Status.Conditions, func(c corev1.PodCondition) bool {
		return c.Type == "kitexsuite.io/serving" && c.Status == corev1.ConditionTrue
	}) {
		t.Errorf("orders-a's conditions %+v lack kitexsuite.io/serving=True", got.Status.Conditions)
	}
	if err := setGate(unbound, "orders-a"); !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), policy) {
		t.Errorf("a token bound to no pod patching orders-a's status: %v, want the policy's denial", err)
	}
	// RBAC still decides first: the gateway's account may patch no status.
	if err := setGate(clientFor(tokenForAccount(t, ctx, cs, ns, "gateway")), "orders-a"); !apierrors.IsForbidden(err) || strings.Contains(err.Error(), policy) {
		t.Errorf("the gateway's token patching orders-a's status: %v, want RBAC's denial", err)
	}
}

// tokenForAccount is a token of ServiceAccount ns/name bound to no object.
func tokenForAccount(t *testing.T, ctx context.Context, cs *kubernetes.Clientset, ns, name string) string {
	t.Helper()
	tr, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, name, &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return tr.Status.Token
}
