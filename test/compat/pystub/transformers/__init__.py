"""Stand-in for `transformers`, which mlx_lm imports at module level for its tokenizers.

PyPI is out of reach on the test machine, so transformers cannot be installed there. The compat
driver and the mlx-lm worker never load a tokenizer (mlxk tokenizes), so these names only need to
exist; using one is an error. Put on PYTHONPATH only when `import transformers` fails.
"""


class _Unavailable:
    def __init__(self, *args, **kwargs):
        raise ImportError("transformers is not installed (test stand-in); tokenizers are mlxk's job here")

    @classmethod
    def from_pretrained(cls, *args, **kwargs):
        cls()

    @classmethod
    def register(cls, *args, **kwargs):
        pass  # mlx_lm registers its NewlineTokenizer at import time


AutoTokenizer = PreTrainedTokenizer = PreTrainedTokenizerFast = AutoConfig = _Unavailable
