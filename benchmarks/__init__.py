"""The asv suite: each benchmark runs a harness stage through harness.runner.run_variant (the code
`harness run` uses) and tracks the figure that stage is judged by. See common.py for the data and
README.md ("Benchmarks") for how to run it."""
