// Package deploy holds the deployment assets of sanafarm and the tests that
// check them without a cloud account: terraform/ (a DigitalOcean module, an
// example root, cloud-init templates), systemd/ (the units the droplets
// run), compose.yaml (a local cluster of our images) and image/ (the
// builder of those images, with no base image pulled).
//
// The tests parse every .tf file with hashicorp/hcl/v2, evaluate the
// module's firewall rules and its templatefile calls with sample inputs,
// check the rendered cloud-config and the units it carries, and start the
// units' command lines as local processes. docs/deploy.md is the guide.
package deploy
