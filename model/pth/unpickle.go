package pth

import (
	"fmt"
	"strings"
)

// The unpickler is a restricted pickle machine: it knows only the opcodes
// that plain containers, numbers, strings and torch tensors use, and it
// never calls anything. Globals are resolved against a fixed allow-list
// (see resolveGlobal); every length is checked against the bytes that are
// left, so a hostile file cannot make it allocate more than the pickle's
// own size.

// tuple, list and dict are the container values; a dict keeps insertion
// order and accepts only string, integer and bool keys.
type (
	tuple []any
	list  struct{ items []any }
	dict  struct {
		keys []any
		vals map[any]any
	}
	global struct{ module, name string }
)

func newDict() *dict { return &dict{vals: map[any]any{}} }

func (d *dict) set(k, v any) error {
	switch k.(type) {
	case string, int64, bool:
	default:
		return fmt.Errorf("dict key of type %s is not supported", kindOf(k))
	}
	if _, ok := d.vals[k]; !ok {
		d.keys = append(d.keys, k)
	}
	d.vals[k] = v
	return nil
}

// Limits of the machine; a pickle that needs more is refused.
const (
	maxMemo  = 1 << 22 // memo entries
	maxStack = 1 << 22 // values on the stack
	maxLong  = 8       // bytes of a LONG1 integer (int64)
)

type machine struct {
	b     []byte
	pos   int
	stack []any
	marks []int
	memo  map[uint32]any
	// persistent resolves a BINPERSID id (torch storages).
	persistent func(pid any) (any, error)
}

// unpickle runs the restricted machine over b and returns the top value.
func unpickle(b []byte, persistent func(any) (any, error)) (any, error) {
	m := &machine{b: b, memo: map[uint32]any{}, persistent: persistent}
	for {
		if m.pos >= len(m.b) {
			return nil, fmt.Errorf("pickle ends without STOP at byte %d", m.pos)
		}
		op := m.b[m.pos]
		at := m.pos
		m.pos++
		if op == '.' { // STOP
			v, err := m.pop()
			if err != nil {
				return nil, fmt.Errorf("pickle STOP at byte %d: %w", at, err)
			}
			return v, nil
		}
		if err := m.step(op); err != nil {
			return nil, fmt.Errorf("pickle opcode 0x%02x at byte %d: %w", op, at, err)
		}
		if len(m.stack) > maxStack || len(m.memo) > maxMemo {
			return nil, fmt.Errorf("pickle at byte %d: more than %d values", at, maxStack)
		}
	}
}

func (m *machine) take(n uint64) ([]byte, error) {
	if n > uint64(len(m.b)-m.pos) {
		return nil, fmt.Errorf("length %d exceeds the %d bytes left", n, len(m.b)-m.pos)
	}
	s := m.b[m.pos : m.pos+int(n)]
	m.pos += int(n)
	return s, nil
}

func (m *machine) u8() (uint64, error) {
	s, err := m.take(1)
	if err != nil {
		return 0, err
	}
	return uint64(s[0]), nil
}

func (m *machine) le(n int) (uint64, error) {
	s, err := m.take(uint64(n))
	if err != nil {
		return 0, err
	}
	var v uint64
	for i := n - 1; i >= 0; i-- {
		v = v<<8 | uint64(s[i])
	}
	return v, nil
}

func (m *machine) line() (string, error) {
	i := strings.IndexByte(string(m.b[m.pos:min(len(m.b), m.pos+256)]), '\n')
	if i < 0 {
		return "", fmt.Errorf("GLOBAL name without newline within 256 bytes")
	}
	s := string(m.b[m.pos : m.pos+i])
	m.pos += i + 1
	return s, nil
}

func (m *machine) push(v any) { m.stack = append(m.stack, v) }

func (m *machine) pop() (any, error) {
	if len(m.stack) == 0 {
		return nil, fmt.Errorf("stack underflow")
	}
	if len(m.marks) > 0 && m.marks[len(m.marks)-1] == len(m.stack) {
		return nil, fmt.Errorf("pop across a MARK")
	}
	v := m.stack[len(m.stack)-1]
	m.stack = m.stack[:len(m.stack)-1]
	return v, nil
}

func (m *machine) top() (any, error) {
	if len(m.stack) == 0 || (len(m.marks) > 0 && m.marks[len(m.marks)-1] == len(m.stack)) {
		return nil, fmt.Errorf("stack underflow")
	}
	return m.stack[len(m.stack)-1], nil
}

// popMark returns the values pushed since the last MARK.
func (m *machine) popMark() ([]any, error) {
	if len(m.marks) == 0 {
		return nil, fmt.Errorf("no MARK")
	}
	at := m.marks[len(m.marks)-1]
	m.marks = m.marks[:len(m.marks)-1]
	items := append([]any(nil), m.stack[at:]...)
	m.stack = m.stack[:at]
	return items, nil
}

func (m *machine) popN(n int) ([]any, error) {
	out := make([]any, n)
	for i := n - 1; i >= 0; i-- {
		v, err := m.pop()
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

func (m *machine) step(op byte) error {
	switch op {
	case 0x80: // PROTO
		v, err := m.u8()
		if err == nil && v > 5 {
			err = fmt.Errorf("pickle protocol %d is not supported", v)
		}
		return err
	case 0x95: // FRAME (size hint only)
		_, err := m.le(8)
		return err
	case '(': // MARK
		m.marks = append(m.marks, len(m.stack))
		return nil
	case '}':
		m.push(newDict())
	case ']':
		m.push(&list{})
	case ')':
		m.push(tuple{})
	case 'N':
		m.push(nil)
	case 0x88:
		m.push(true)
	case 0x89:
		m.push(false)
	case 0x85, 0x86, 0x87: // TUPLE1..3
		items, err := m.popN(int(op-0x85) + 1)
		if err != nil {
			return err
		}
		m.push(tuple(items))
	case 't', 'l', 'd':
		return m.fromMark(op)
	case 's', 'u':
		return m.setItems(op == 'u')
	case 'a', 'e':
		return m.appendItems(op == 'e')
	case 'c', 0x93, 'R', 'b', 'Q':
		return m.callOps(op)
	case 'q', 'r', 0x94, 'h', 'j':
		return m.memoOps(op)
	case '0': // POP
		_, err := m.pop()
		return err
	case '2': // DUP
		v, err := m.top()
		if err == nil {
			m.push(v)
		}
		return err
	default:
		return m.scalar(op)
	}
	return nil
}

func (m *machine) fromMark(op byte) error {
	items, err := m.popMark()
	if err != nil {
		return err
	}
	switch op {
	case 't':
		m.push(tuple(items))
	case 'l':
		m.push(&list{items: items})
	default:
		if len(items)%2 != 0 {
			return fmt.Errorf("DICT with an odd number of items")
		}
		d := newDict()
		for i := 0; i < len(items); i += 2 {
			if err := d.set(items[i], items[i+1]); err != nil {
				return err
			}
		}
		m.push(d)
	}
	return nil
}

func (m *machine) setItems(many bool) error {
	var items []any
	var err error
	if many {
		items, err = m.popMark()
	} else {
		items, err = m.popN(2)
	}
	if err != nil {
		return err
	}
	t, err := m.top()
	if err != nil {
		return err
	}
	d, ok := t.(*dict)
	if !ok {
		return fmt.Errorf("SETITEM(S) on a %s, not a dict", kindOf(t))
	}
	if len(items)%2 != 0 {
		return fmt.Errorf("SETITEMS with an odd number of items")
	}
	for i := 0; i < len(items); i += 2 {
		if err := d.set(items[i], items[i+1]); err != nil {
			return err
		}
	}
	return nil
}

func (m *machine) appendItems(many bool) error {
	var items []any
	var err error
	if many {
		items, err = m.popMark()
	} else {
		items, err = m.popN(1)
	}
	if err != nil {
		return err
	}
	t, err := m.top()
	if err != nil {
		return err
	}
	l, ok := t.(*list)
	if !ok {
		return fmt.Errorf("APPEND(S) on a %s, not a list", kindOf(t))
	}
	l.items = append(l.items, items...)
	return nil
}

func (m *machine) memoOps(op byte) error {
	var idx uint64
	var err error
	switch op {
	case 'q', 'h':
		idx, err = m.u8()
	case 'r', 'j':
		idx, err = m.le(4)
	case 0x94: // MEMOIZE
		idx = uint64(len(m.memo))
	}
	if err != nil {
		return err
	}
	if op == 'h' || op == 'j' {
		v, ok := m.memo[uint32(idx)]
		if !ok {
			return fmt.Errorf("memo entry %d was never stored", idx)
		}
		m.push(v)
		return nil
	}
	v, err := m.top()
	if err != nil {
		return err
	}
	m.memo[uint32(idx)] = v
	return nil
}
