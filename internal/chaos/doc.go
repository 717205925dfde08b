// Package chaos is the multi-process fault suite of docs/reliability.md:
// it builds the real binaries (sanafarm, a standalone etcd and nats-server;
// versitygw from scripts/install-versitygw.sh), starts a farm of separate
// processes on loopback (etcd, NATS with a password, versitygw, three
// coordinators, two CPU nodes), injects one fault per scenario while a
// sana-tiny job runs (SIGKILL, SIGSTOP, restarts, a cut NATS link) and
// checks that the job ends within a bound and that its output is whole
// (VerifyOutput).
//
// The scenarios run only with SANAFARM_CHAOS=1 (make chaos); plain go test
// runs the verifier's own tests and skips the rest.
package chaos
