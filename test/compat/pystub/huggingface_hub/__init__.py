"""Stand-in for `huggingface_hub`, imported by mlx_lm.utils at module level for downloads.

Nothing is downloaded in the tests (every model is a local directory); using a name is an error.
Put on PYTHONPATH only when `import huggingface_hub` fails (see ../transformers).
"""


def _unavailable(*args, **kwargs):
    raise ImportError("huggingface_hub is not installed (test stand-in); models are local directories here")


snapshot_download = _unavailable


class _Unavailable:
    def __init__(self, *args, **kwargs):
        _unavailable()


ModelCard = ModelCardData = HfApi = _Unavailable
logging = None
