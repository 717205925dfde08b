package pth

import "fmt"

// callOps handles GLOBAL/STACK_GLOBAL (resolved against the allow-list),
// REDUCE (only of allowed globals, executed by our own Go code), BUILD
// (only an empty state) and BINPERSID.
func (m *machine) callOps(op byte) error {
	switch op {
	case 'c':
		mod, err := m.line()
		if err != nil {
			return err
		}
		name, err := m.line()
		if err != nil {
			return err
		}
		return m.pushGlobal(mod, name)
	case 0x93:
		v, err := m.popN(2)
		if err != nil {
			return err
		}
		mod, ok1 := v[0].(string)
		name, ok2 := v[1].(string)
		if !ok1 || !ok2 {
			return fmt.Errorf("STACK_GLOBAL of non-strings")
		}
		return m.pushGlobal(mod, name)
	case 'R':
		v, err := m.popN(2)
		if err != nil {
			return err
		}
		g, ok := v[0].(global)
		args, ok2 := v[1].(tuple)
		if !ok || !ok2 {
			return fmt.Errorf("REDUCE of a %s with %s arguments (only allowed globals can be called)", kindOf(v[0]), kindOf(v[1]))
		}
		r, err := call(g, args)
		if err != nil {
			return err
		}
		m.push(r)
	case 'b':
		state, err := m.pop()
		if err != nil {
			return err
		}
		if d, ok := state.(*dict); state != nil && (!ok || len(d.keys) > 0) {
			return fmt.Errorf("BUILD with a %s state is not supported", kindOf(state))
		}
		_, err = m.top()
		return err
	case 'Q':
		pid, err := m.pop()
		if err != nil {
			return err
		}
		v, err := m.persistent(pid)
		if err != nil {
			return err
		}
		m.push(v)
	}
	return nil
}

func (m *machine) pushGlobal(mod, name string) error {
	if err := resolveGlobal(mod, name); err != nil {
		return err
	}
	m.push(global{mod, name})
	return nil
}

func kindOf(v any) string {
	switch x := v.(type) {
	case nil:
		return "None"
	case global:
		return "global " + x.module + "." + x.name
	case tuple:
		return "tuple"
	case *list:
		return "list"
	case *dict:
		return "dict"
	case *Tensor:
		return "tensor"
	default:
		return fmt.Sprintf("%T", v)
	}
}
