"""GraphedForward's static-buffer logic, on the CPU through EmulatedGraph (CUDA-graph semantics:
outputs hold nothing until replayed)."""

import pytest
import torch

from inference_image.fast.graphs import EmulatedGraph, GraphedForward


class Scaled(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = torch.nn.Linear(4, 4)

    def forward(self, x, scale=1.0, extra=None):
        y = self.lin(x) * scale
        return (y, [y + 1]) if extra is None else (y + extra, [y])


def graphed(module: torch.nn.Module, **kw) -> GraphedForward:
    return GraphedForward(module.forward, torch.device("cpu"), EmulatedGraph, None, **kw)


@pytest.fixture
def module() -> Scaled:
    torch.manual_seed(0)
    return Scaled()


def test_replays_match_the_eager_forward_for_fresh_inputs(module):
    fast = graphed(module)
    with torch.no_grad():
        for _ in range(3):
            x = torch.randn(2, 4)
            got, want = fast(x), module(x)
            torch.testing.assert_close(got[0], want[0])
            torch.testing.assert_close(got[1][0], want[1][0])
    assert fast.stats.captures == 1 and fast.stats.replays == 3


def test_a_new_shape_or_argument_value_gets_its_own_graph(module):
    fast = graphed(module)
    with torch.no_grad():
        fast(torch.randn(2, 4))
        fast(torch.randn(3, 4))
        out = fast(torch.randn(3, 4), extra=torch.ones(3, 4))
    assert len(fast.signatures()) == 3
    assert out[0].shape == (3, 4)


def test_scalar_kwargs_feed_the_graph_instead_of_keying_it(module):
    fast = graphed(module, scalar_kwargs=("scale",))
    x = torch.randn(2, 4)
    with torch.no_grad():
        for scale in (1.0, 0.0, 0.5):
            torch.testing.assert_close(fast(x, scale=scale)[0], module(x, scale=scale)[0])
    assert len(fast.signatures()) == 1


def test_outputs_are_the_callers_to_keep_and_modify(module):
    fast = graphed(module)
    x = torch.randn(2, 4)
    with torch.no_grad():
        first = fast(x)[0]
        first += 100  # MultiControlNet adds in place
        second = fast(x)[0]
    torch.testing.assert_close(second, module(x)[0])
    assert not torch.equal(first, second)


def test_past_the_signature_limit_it_runs_eagerly(module):
    fast = graphed(module, max_signatures=1)
    with torch.no_grad():
        fast(torch.randn(1, 4))
        out = fast(torch.randn(5, 4))
    assert fast.stats.eager_calls == 1 and out[0].shape == (5, 4)


def test_a_forward_that_cannot_be_captured_runs_eagerly(module):
    def refuse(run, pool):
        raise RuntimeError("operation not permitted when stream is capturing")

    fast = GraphedForward(module.forward, torch.device("cpu"), refuse, None)
    x = torch.randn(2, 4)
    with torch.no_grad():
        torch.testing.assert_close(fast(x)[0], module(x)[0])
        fast(x)
    assert fast.stats.eager_calls == 2 and fast.stats.failures


class Source:
    """A CompiledSource whose "build" makes a counting twin of the forward available."""

    def __init__(self, module: torch.nn.Module, built: bool = False) -> None:
        self.module, self.built, self.calls, self.builds = module, built, 0, 0

    def ready(self, signature):
        if not self.built:
            return None

        def compiled(*args, **kwargs):
            self.calls += 1
            return self.module.forward(*args, **kwargs)

        return compiled

    def build(self, signature, inputs, spec):
        assert all(t.device.type == "cpu" for t in inputs if isinstance(t, torch.Tensor))
        self.builds += 1
        self.built = True


def test_a_compiled_signature_is_recaptured_from_the_compiled_function(module):
    source = Source(module)
    fast = graphed(module, source=source)
    x = torch.randn(2, 4)
    with torch.no_grad():
        fast(x)
        (key,) = fast.signatures()
        assert fast.entry_tier(key) == "graph" and fast.pending_compiles() == [key]
        fast.compile_signature(key)
        torch.testing.assert_close(fast(x)[0], module(x)[0])
    assert fast.entry_tier(key) == "compiled" and source.calls and source.builds == 1
    assert fast.pending_compiles() == []


def test_a_signature_already_built_is_compiled_from_its_first_call(module):
    source = Source(module, built=True)
    fast = graphed(module, source=source)
    x = torch.randn(2, 4)
    with torch.no_grad():
        torch.testing.assert_close(fast(x)[0], module(x)[0])
    (key,) = fast.signatures()
    assert fast.entry_tier(key) == "compiled" and source.builds == 0 and fast.pending_compiles() == []
