package dit

import "fmt"

// WithPAG returns a copy of cd for perturbed-attention guidance
// (docs/pag.md): in the listed blocks, the last rows samples of the batch
// (the perturbed branch) get identity self-attention, to_out(to_v(x)),
// as diffusers' PAGIdentitySanaLinearAttnProcessor2_0 does; the other
// samples and every other block are unchanged. rows 0 or no blocks turn
// PAG off.
func (cd *Cond) WithPAG(blocks []int, rows int) *Cond {
	c := *cd
	c.pag, c.pagRows = nil, 0
	if rows > 0 && len(blocks) > 0 {
		c.pag = make(map[int]bool, len(blocks))
		for _, b := range blocks {
			c.pag[b] = true
		}
		c.pagRows = rows
	}
	return &c
}

// perturbed is the number of trailing samples that get identity
// self-attention in block i.
func (cd *Cond) perturbed(i int) int {
	if cd == nil || !cd.pag[i] {
		return 0
	}
	return cd.pagRows
}

// checkPAG validates cd's PAG settings against the model.
func (m *Model) checkPAG(cd *Cond) error {
	if cd.pagRows == 0 {
		return nil
	}
	if cd.pagRows > cd.B {
		return fmt.Errorf("dit: PAG perturbs %d samples of a batch of %d", cd.pagRows, cd.B)
	}
	if m.sp() {
		return fmt.Errorf("dit: PAG is not supported under sequence parallelism")
	}
	for b := range cd.pag {
		if b < 0 || b >= len(m.w.blocks) {
			return fmt.Errorf("dit: PAG block %d out of range (model has %d blocks)", b, len(m.w.blocks))
		}
	}
	return nil
}
