"""A %bumps_remote line is split into words as a shell would, comments left out."""

import pytest

from jupyter_bumps_remote.kernel.options import split_words


@pytest.mark.parametrize(
    ("line", "words"),
    [
        # the README's first example: a comment after the magic
        (
            "problem --fitter dream --steps 2000   # returns at once",
            ["problem", "--fitter", "dream", "--steps", "2000"],
        ),
        ('problem --name "run # 2"  # note', ["problem", "--name", "run # 2"]),
        ("problem --name run#2", ["problem", "--name", "run#2"]),
        ("problem --name run\\ #2", ["problem", "--name", "run #2"]),
        ("problem --name 'it\"s' # note", ["problem", "--name", 'it"s']),
        ("# only a comment", []),
    ],
)
def test_split_words(line, words):
    assert split_words(line) == words
