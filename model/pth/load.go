package pth

import "fmt"

// load unpickles data.pkl and keeps the tensors of its state dict.
func (p *File) load(b []byte) error {
	storages := map[string]*storage{}
	persistent := func(pid any) (any, error) { return p.storage(storages, pid) }
	v, err := unpickle(b, persistent)
	if err != nil {
		return err
	}
	top, ok := v.(*dict)
	if !ok {
		return fmt.Errorf("the pickled object is a %s, not a dict", kindOf(v))
	}
	sd := top
	if inner, ok := top.vals["state_dict"]; ok {
		if sd, ok = inner.(*dict); !ok {
			return fmt.Errorf(`"state_dict" is a %s, not a dict`, kindOf(inner))
		}
	}
	p.tensors = make(map[string]*Tensor, len(sd.keys))
	for _, k := range sd.keys {
		name, ok := k.(string)
		if !ok {
			return fmt.Errorf("state dict key %v is not a string", k)
		}
		t, ok := sd.vals[k].(*Tensor)
		if !ok {
			return fmt.Errorf("state dict entry %q is a %s, not a tensor", name, kindOf(sd.vals[k]))
		}
		p.tensors[name] = t
	}
	return nil
}

// storage resolves a persistent id ('storage', torch.<X>Storage, key,
// location, numel) against the archive's data/<key> members: the member
// must exist and hold exactly numel elements.
func (p *File) storage(seen map[string]*storage, pid any) (*storage, error) {
	t, ok := pid.(tuple)
	if !ok || len(t) != 5 || t[0] != "storage" {
		return nil, fmt.Errorf("persistent id %v is not ('storage', type, key, location, numel)", describe(pid))
	}
	g, ok1 := t[1].(global)
	key, ok2 := t[2].(string)
	numel, ok3 := t[4].(int64)
	if !ok1 || !ok2 || !ok3 || g.module != "torch" {
		return nil, fmt.Errorf("persistent id %v has the wrong element types", describe(pid))
	}
	typ, ok := storageTypes[g.name]
	if !ok {
		return nil, fmt.Errorf("storage type torch.%s is not supported", g.name)
	}
	if s, ok := seen[key]; ok {
		if s.typ != g.name || s.numel != numel {
			return nil, fmt.Errorf("storage %s is used as both %s[%d] and %s[%d]", key, s.typ, s.numel, g.name, numel)
		}
		return s, nil
	}
	zf, ok := p.members[key]
	if !ok {
		return nil, fmt.Errorf("storage %s has no data/%s member in the archive", key, key)
	}
	if numel < 0 || uint64(numel) != zf.UncompressedSize64/uint64(typ.size) || zf.UncompressedSize64%uint64(typ.size) != 0 {
		return nil, fmt.Errorf("storage %s: %d elements of %s do not match the %d-byte member %s",
			key, numel, g.name, zf.UncompressedSize64, zf.Name)
	}
	s := &storage{key: key, typ: g.name, numel: numel}
	seen[key] = s
	return s, nil
}

// describe prints a value for an error without dumping large containers.
// Nesting is cut at three levels (a hostile pickle can nest millions).
func describe(v any) string { return describeN(v, 3) }

func describeN(v any, depth int) string {
	switch x := v.(type) {
	case tuple:
		if len(x) <= 8 && depth > 0 {
			out := "("
			for i, e := range x {
				if i > 0 {
					out += ", "
				}
				out += describeN(e, depth-1)
			}
			return out + ")"
		}
	case string:
		if len(x) <= 64 {
			return fmt.Sprintf("%q", x)
		}
	case int64, bool, float64, nil:
		return fmt.Sprint(x)
	}
	return kindOf(v)
}
