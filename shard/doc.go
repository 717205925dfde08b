// Package shard runs one Sana DiT forward across several ranks (GPUs or
// processes) that talk over a Transport: NATS with chunked messages, or an
// in-process loopback.
//
// Three splits are offered; the model math itself stays in model/dit (see
// dit.NewParallel), which calls the Transport through the small dit.Comm
// interface:
//
//   - tensor parallel (TP, "tp:d"): attention heads and Mix-FFN channels
//     split over d ranks, weights sharded at load time (dit.Shard), one
//     all-reduce after each row-parallel projection (three per block);
//   - sequence parallel (SP, "sp:d"): each rank holds a band of latent
//     rows; the linear attention all-reduces each head's K·Vᵀ and ΣK
//     state (size independent of the resolution) and the depthwise conv
//     exchanges one halo row with each neighbour;
//   - CFG parallel ("cfg:2"): the unconditional and conditional halves of
//     the batch on two ranks, one all-gather of the velocities per step
//     (BatchSplit).
//
// Every rank runs the same denoising loop on the whole latents; the
// transport's sequence numbers keep the messages of different collectives
// apart, and a rank that disappears turns into an error on every other
// rank within the transport's peer timeout.
package shard
