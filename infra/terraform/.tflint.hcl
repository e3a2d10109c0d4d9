# tflint with its bundled Terraform ruleset, every rule on
# (naming, documented variables and outputs, typed variables, pinned
# versions, unused declarations, standard module structure).
# Run: tflint --recursive --config="$PWD/.tflint.hcl" (make infra-check does).
plugin "terraform" {
  enabled = true
  preset  = "all"
}
