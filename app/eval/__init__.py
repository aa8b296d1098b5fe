"""`fluxbase eval`: test cases for chatbots, run through the real turn path (docs/eval.md)."""
