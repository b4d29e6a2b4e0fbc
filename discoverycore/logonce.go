package discoverycore

import "sync"

// DefaultLogOnceLimit is how many keys a zero LogOnce remembers.
const DefaultLogOnceLimit = 1024

// LogOnce remembers which version of which bad entry (a malformed registry
// value, an unusable endpoint) has been logged, so each is logged once per
// version, not at every list. It remembers at most Limit keys
// (DefaultLogOnceLimit when 0), forgetting the oldest first: entries that
// vanished from the backend do not pile up for the life of the process,
// and one forgotten too early is merely logged again. The zero value is
// ready; a LogOnce is safe for concurrent use.
type LogOnce struct {
	Limit int

	mu    sync.Mutex
	seen  map[string]string // key -> version logged
	order []string          // keys, oldest first (may hold forgotten ones)
}

// First reports whether version of key has not been logged yet, and
// records it as logged.
func (l *LogOnce) First(key, version string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.seen == nil {
		l.seen = map[string]string{}
	}
	v, known := l.seen[key]
	if known && v == version {
		return false
	}
	l.seen[key] = version
	if !known {
		l.order = append(l.order, key)
		l.evict()
	}
	return true
}

// Forget drops key: the entry became valid or was removed.
func (l *LogOnce) Forget(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.seen, key) // its place in order goes at the next eviction
}

// Len is how many keys are remembered.
func (l *LogOnce) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.seen)
}

func (l *LogOnce) evict() {
	limit := l.Limit
	if limit <= 0 {
		limit = DefaultLogOnceLimit
	}
	for len(l.seen) > limit && len(l.order) > 0 {
		k := l.order[0]
		l.order = l.order[1:]
		delete(l.seen, k)
	}
	// order keeps forgotten keys until they reach its front; compact it
	// when they are most of it.
	if len(l.order) > 2*limit {
		kept := make([]string, 0, len(l.seen))
		in := make(map[string]bool, len(l.seen))
		for _, k := range l.order {
			if _, ok := l.seen[k]; ok && !in[k] {
				kept = append(kept, k)
				in[k] = true
			}
		}
		l.order = kept
	}
}
