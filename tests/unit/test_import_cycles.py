"""No two modules of the package import each other, directly or round a longer circle, at
module level or inside a function: a circle makes import order matter (or hides behind a
late import) and blurs which module owns a name."""

from __future__ import annotations

from tests.support.package_imports import import_graph


def cycles() -> list[list[str]]:
    graph = import_graph()
    found, state, stack = [], {}, []

    def visit(node: str) -> None:
        state[node] = "open"
        stack.append(node)
        for other in sorted(graph[node]):
            if state.get(other) == "open":
                found.append(stack[stack.index(other) :] + [other])
            elif other not in state:
                visit(other)
        stack.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return found


def test_no_module_of_the_package_is_in_an_import_circle():
    circles = cycles()
    assert not circles, "\n".join(" -> ".join(c) for c in circles)
