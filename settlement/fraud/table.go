package fraud

import "container/list"

// table is a map capped at max entries that evicts the least recently
// used one to make room: the detector's bounded memory. Not safe for
// concurrent use (Detector locks).
type table[K comparable, V any] struct {
	max     int
	m       map[K]*list.Element
	order   list.List // front: most recently used; values *entry[K, V]
	evicted uint64
	onEvict func(K, V)
}

type entry[K comparable, V any] struct {
	k K
	v V
}

func newTable[K comparable, V any](max int) *table[K, V] {
	t := &table[K, V]{max: max, m: make(map[K]*list.Element)}
	t.order.Init()
	return t
}

// get returns k's value, marked most recently used; with create, a
// missing key gets mk's value (evicting the least recently used entry
// when the table is full).
func (t *table[K, V]) get(k K, create bool, mk func() V) (V, bool) {
	if e := t.m[k]; e != nil {
		t.order.MoveToFront(e)
		return e.Value.(*entry[K, V]).v, true
	}
	var zero V
	if !create {
		return zero, false
	}
	if len(t.m) >= t.max {
		if old := t.order.Back(); old != nil {
			en := old.Value.(*entry[K, V])
			t.order.Remove(old)
			delete(t.m, en.k)
			t.evicted++
			if t.onEvict != nil {
				t.onEvict(en.k, en.v)
			}
		}
	}
	v := mk()
	t.m[k] = t.order.PushFront(&entry[K, V]{k: k, v: v})
	return v, true
}

// remove forgets k.
func (t *table[K, V]) remove(k K) {
	if e := t.m[k]; e != nil {
		t.order.Remove(e)
		delete(t.m, k)
	}
}

func (t *table[K, V]) len() int { return len(t.m) }
