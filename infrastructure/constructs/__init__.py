"""One construct per capability of the stack."""
