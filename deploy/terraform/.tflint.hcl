# tflint for the deploy modules: only the bundled terraform ruleset (no
# provider plugin is needed or downloaded, so it runs offline).
config {
  # Each module directory is linted on its own (--recursive); evaluating the
  # example's module call would need its TLS files.
  call_module_type = "none"
}

plugin "terraform" {
  enabled = true
  preset  = "all"
}
