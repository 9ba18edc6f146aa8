package relay

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// topic fans one kind of event (alerts or logs) out to its subscribers, or
// keeps a backlog while it has none. Publish never blocks.
type topic[T any] struct {
	bufSize    int
	backlogMax int
	drops      prometheus.Counter // slow_client
	lost       prometheus.Counter // backlog_full
	backlogLen prometheus.Gauge
	clients    prometheus.Gauge

	// left, if set (tests only), is called after a subscriber is removed.
	left func()

	mu      sync.Mutex
	subs    map[*subscriber[T]]struct{}
	backlog []T // oldest first
}

type subscriber[T any] struct {
	ch chan T
}

func newTopic[T any](name string, bufSize, backlog int, m *metrics) *topic[T] {
	return &topic[T]{
		bufSize:    bufSize,
		backlogMax: backlog,
		drops:      m.drops.WithLabelValues(name, reasonSlowClient),
		lost:       m.drops.WithLabelValues(name, reasonBacklogFull),
		backlogLen: m.backlog.WithLabelValues(name),
		clients:    m.clients.WithLabelValues(name),
		subs:       make(map[*subscriber[T]]struct{}),
	}
}

// publish gives v to every subscriber that has room, or to the backlog when
// there is no subscriber.
func (t *topic[T]) publish(v T) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.subs) == 0 {
		t.pushBacklog(v)
		return
	}
	for s := range t.subs {
		select {
		case s.ch <- v:
		default:
			t.drops.Inc()
		}
	}
}

// pushBacklog appends v, dropping the oldest beyond the limit.
// Precondition: t.mu is held.
func (t *topic[T]) pushBacklog(vs ...T) {
	t.backlog = append(t.backlog, vs...)
	if over := len(t.backlog) - t.backlogMax; over > 0 {
		t.lost.Add(float64(over))
		clear(t.backlog[:over])
		t.backlog = append(t.backlog[:0], t.backlog[over:]...)
	}
	t.backlogLen.Set(float64(len(t.backlog)))
}

// subscribe adds a subscriber. The first subscriber of an idle topic also
// gets the backlog, oldest first, to send before anything from its channel
// (which only holds newer events).
func (t *topic[T]) subscribe() (*subscriber[T], []T) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := &subscriber[T]{ch: make(chan T, t.bufSize)}
	var pending []T
	if len(t.subs) == 0 && len(t.backlog) > 0 {
		pending = t.backlog
		t.backlog = nil
		t.backlogLen.Set(0)
	}
	t.subs[s] = struct{}{}
	t.clients.Inc()
	return s, pending
}

// unsubscribe removes s. If it was the last subscriber, what it had not been
// given yet (unsent, then still in its channel) goes back to the backlog so
// the next client (a reconnecting relay) gets it.
func (t *topic[T]) unsubscribe(s *subscriber[T], unsent []T) {
	if t.left != nil {
		defer t.left()
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.subs[s]; !ok {
		return
	}
	delete(t.subs, s)
	t.clients.Dec()
	if len(t.subs) > 0 {
		return
	}
	back := unsent
	for {
		select {
		case v := <-s.ch:
			back = append(back, v)
			continue
		default:
		}
		break
	}
	if len(back) > 0 {
		// These are older than anything already in the backlog, which
		// is empty here: events published after the last subscriber left
		// wait for t.mu, which we hold.
		t.pushBacklog(back...)
	}
}
