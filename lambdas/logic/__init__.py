"""Use cases: typed in, typed out; handlers call these, these call `lambdas.data`."""
