# tflint for the deploy modules: only the bundled terraform ruleset (no
# provider plugin is needed or downloaded, so it runs offline).
config {
  call_module_type = "local"
}

plugin "terraform" {
  enabled = true
  preset  = "all"
}
