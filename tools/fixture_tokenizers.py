"""Byte-level BPE tokenizer fixtures for make_fixtures.py: tiny tokenizers trained with the HF
`tokenizers` library, built the way Llama-3 and Qwen2/Qwen3 tokenizer.json files are, plus
cases.json with test strings, their ids and decode round trips.

The split regexes are the published ones: Llama-3's is Meta's tiktoken `pat_str` (llama3
tokenizer.py); Qwen2's is PRETOKENIZE_REGEX in transformers' tokenization_qwen2.py. They differ
only in digits: Llama-3 groups up to three (\\p{N}{1,3}), Qwen2 takes one at a time (\\p{N}).
"""
import hashlib
import json
import os
import struct

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

VOCAB_SIZE = 1000

PATTERNS = {
    'llama3': r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
    'qwen2': r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
}

# Added tokens as the real models have them: special ones, then non-special ones (Qwen3's <think>
# and </think> are non-special, normalized false).
SPECIAL = {
    'llama3': ['<|begin_of_text|>', '<|end_of_text|>', '<|start_header_id|>', '<|end_header_id|>', '<|eot_id|>'],
    'qwen2': ['<|endoftext|>', '<|im_start|>', '<|im_end|>'],
}
NON_SPECIAL = {
    'llama3': ['<tool_call>'],
    'qwen2': ['<think>', '</think>'],
}

# One vocab entry that no merge builds, as tiktoken-derived vocabularies (Llama-3's) have: only the
# ignore_merges rule produces it, so the cases containing it tell the two rules apart.
UNMERGEABLE = ' mlxk'

CASES = [
    'Hello, world!',
    'The quick brown fox jumps over the lazy dog.',
    "I'M here, YOU'RE there, it's fine, we'll see, they'd've gone, DON'T, She'S, 'LL 'Ve",
    'def add(a, b):\n    return a + b\n',
    'for (int i = 0; i < n; ++i) {\n\tsum += x[i];\n}',
    '1 12 123 1234 12345 123456',
    '3.14159 and 2,718,281 and 1e-10 and 0x1F and -42',
    '   leading spaces',
    'trailing spaces   ',
    'multiple   spaces    between  words',
    'line1\nline2\n\nline4\n\n\n',
    'tabs\tand\t\ttabs',
    'windows\r\nline\r\nendings\r\n',
    'mixed \t \n \r\n whitespace',
    '   \n\n   ',
    'caf\u00e9 na\u00efve r\u00e9sum\u00e9 \u00c5ngstr\u00f6m fa\u00e7ade',
    'e\u0301 (decomposed) vs \u00e9 (composed), A\u030a vs \u00c5',
    '\u00dcn\u00efc\u00f6d\u00e9 \u00c0\u00c9\u00ce\u00d5\u00dc \u00df \u1e9e',
    '\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8\u3067\u3059\u3002',
    '\u4e2d\u6587\u5206\u8bcd\u6d4b\u8bd5\uff0c\u5305\u62ec\u6807\u70b9\u3002',
    '\ud55c\uad6d\uc5b4 \ud14d\uc2a4\ud2b8',
    '\u03b1\u03b2\u03b3 \u0395\u03bb\u03bb\u03b7\u03bd\u03b9\u03ba\u03ac \u043a\u0438\u0440\u0438\u043b\u043b\u0438\u0446\u0430 \u05e2\u05d1\u05e8\u05d9\u05ea \u0627\u0644\u0639\u0631\u0628\u064a\u0629',
    '\U0001f600 \U0001f44d\U0001f3fd \U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466 \U0001f3f3\ufe0f\u200d\U0001f308',
    'emoji\U0001f600in\U0001f600words',
    '\u2019curly\u2019 \u201cdouble\u201d \u2014 em dash \u2026 ellipsis',
    '\ufb01 ligature, \u2460 circled, \uff12 fullwidth',
    '\u200b zero width \ufeff BOM',
    '\x00\x01\x7f control bytes',
    '\ufffd replacement char',
    'URL: https://example.com/path?q=1&r=two#frag',
    'JSON: {"key": [1, 2, 3], "nested": {"x": null}}',
    'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa',
    '<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n',
    '<|im_start|>assistant\n<think>\nreasoning\n</think>\n\nanswer<|im_end|>',
    '<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>',
    '<|endoftext|><|endoftext|>',
    '<tool_call>{"name": "f"}</tool_call>',
    '<|im_start',
    '<<|im_end|>>',
    '<|unknown_token|>',
    '',
    ' ',
    '\n',
    'a',
    UNMERGEABLE,
    'run mlxk quantize, mlxk  mlxks',
]


def byte_level(text):
    """The vocab spelling of text: GPT-2's byte-to-unicode map applied to its UTF-8 bytes."""
    (piece, _), = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False).pre_tokenize_str(text)
    return piece


def train(style, text):
    tok = Tokenizer(models.BPE())
    if style == 'qwen2':
        tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(PATTERNS[style]), behavior='isolated', invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=VOCAB_SIZE - 1, min_frequency=2, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), special_tokens=[])
    # Paragraphs (with their blank lines) as training units, so newline runs are seen as they occur.
    paragraphs = [p + '\n\n' for p in text.split('\n\n')]
    tok.train_from_iterator(paragraphs, trainer=trainer, length=len(paragraphs))
    j = json.loads(tok.to_str())
    vocab = j['model']['vocab']
    if byte_level(UNMERGEABLE) in vocab:
        raise RuntimeError(f'{UNMERGEABLE!r} was learned by training; pick another unmergeable entry')
    vocab[byte_level(UNMERGEABLE)] = len(vocab)
    tok = Tokenizer.from_str(json.dumps(j))
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in SPECIAL[style]])
    tok.add_tokens([AddedToken(t, special=False, normalized=False) for t in NON_SPECIAL[style]])
    if style == 'llama3':
        bos = SPECIAL['llama3'][0]
        tok.post_processor = processors.Sequence([
            processors.ByteLevel(trim_offsets=False),
            processors.TemplateProcessing(single=f'{bos} $A', pair=f'{bos} $A {bos} $B',
                                          special_tokens=[(bos, tok.token_to_id(bos))]),
        ])
    else:
        tok.post_processor = processors.ByteLevel(trim_offsets=False)
    return tok


def tokenizer_json(tok, style, ignore_merges):
    """The tokenizer.json object. Llama-3's sets model.ignore_merges = true (a pre-token that is
    already in the vocab is taken whole, before any merge); Qwen2's leaves it false. The qwen2
    fixture spells merges as "a b" strings (the format before tokenizers 0.20), the llama3 fixture
    as [a, b] pairs, so a reader meets both spellings."""
    j = json.loads(tok.to_str())
    j['model']['ignore_merges'] = ignore_merges
    if style == 'qwen2':
        j['model']['merges'] = [' '.join(m) if isinstance(m, list) else m for m in j['model']['merges']]
    return j


def encode_special_as_text(tok, text):
    if not hasattr(tok, 'encode_special_tokens'):
        return None
    tok.encode_special_tokens = True
    try:
        return tok.encode(text, add_special_tokens=False).ids
    finally:
        tok.encode_special_tokens = False


def case_record(tok, other_merges_tok, text):
    enc = tok.encode(text, add_special_tokens=False)
    ids = enc.ids
    rec = dict(text=text, ids=ids, tokens=enc.tokens,
               ids_add_special_tokens=tok.encode(text, add_special_tokens=True).ids)
    as_text = encode_special_as_text(tok, text)
    if as_text is not None:
        rec['ids_special_tokens_as_text'] = as_text
        rec['decode_ids_special_tokens_as_text'] = tok.decode(as_text, skip_special_tokens=False)
    rec['decode'] = tok.decode(ids, skip_special_tokens=False)
    rec['decode_skip_special'] = tok.decode(ids, skip_special_tokens=True)
    rec['roundtrip'] = rec['decode'] == text
    rec['decode_each'] = [tok.decode([i], skip_special_tokens=False) for i in ids]
    other = other_merges_tok.encode(text, add_special_tokens=False).ids
    if other != ids:
        rec['ids_with_ignore_merges_flipped'] = other
    return rec


def ids_digest(ids):
    return hashlib.sha256(struct.pack(f'<{len(ids)}i', *ids)).hexdigest()


def make_tokenizer_fixtures(eval_text_path, out_root, vers, log):
    with open(eval_text_path, encoding='utf-8') as f:
        text = f.read()
    for style in ('llama3', 'qwen2'):
        out_dir = os.path.join(out_root, style)
        os.makedirs(out_dir, exist_ok=True)
        ignore = style == 'llama3'
        trained = train(style, text)
        with open(os.path.join(out_dir, 'tokenizer.json'), 'w', encoding='utf-8') as f:
            json.dump(tokenizer_json(trained, style, ignore), f, ensure_ascii=False, indent=2)
            f.write('\n')
        reloaded = Tokenizer.from_file(os.path.join(out_dir, 'tokenizer.json'))
        flipped = Tokenizer.from_str(json.dumps(tokenizer_json(trained, style, not ignore)))
        cases = [case_record(reloaded, flipped, t) for t in CASES]
        full = reloaded.encode(text, add_special_tokens=False).ids
        doc = dict(
            format=1, generated_by='tools/make_fixtures.py (tools/fixture_tokenizers.py)', versions=vers,
            style=style, pattern=PATTERNS[style], normalizer='NFC' if style == 'qwen2' else None,
            ignore_merges=ignore, vocab_size_with_added=reloaded.get_vocab_size(with_added_tokens=True),
            special_tokens={t: reloaded.token_to_id(t) for t in SPECIAL[style]},
            non_special_added_tokens={t: reloaded.token_to_id(t) for t in NON_SPECIAL[style]},
            trained_on='models/tiny-kimi/eval-A.txt, split into paragraphs at blank lines',
            fields=dict(
                ids='encode(text, add_special_tokens=False): added tokens in the text are matched',
                tokens='the byte-level token strings of ids',
                ids_add_special_tokens='encode(text, add_special_tokens=True): the post-processor runs (llama3 prepends <|begin_of_text|>)',
                ids_special_tokens_as_text='with encode_special_tokens = True: special tokens in the text are encoded as ordinary text; non-special added tokens still match',
                decode='decode(ids, skip_special_tokens=False)', decode_skip_special='decode(ids, skip_special_tokens=True)',
                roundtrip='decode == text (false where NFC changed the text)',
                decode_each='decode([id]) for each id alone (partial UTF-8 sequences decode to U+FFFD)',
                ids_with_ignore_merges_flipped='present only where encoding with the opposite ignore_merges setting gives other ids'),
            unmergeable_vocab_entry=dict(text=UNMERGEABLE, id=reloaded.token_to_id(byte_level(UNMERGEABLE)),
                                         note='added to the vocab by hand with no merge that builds it'),
            merges_format='"a b" strings' if style == 'qwen2' else '[a, b] pairs',
            eval_text=dict(bytes=len(text.encode('utf-8')), num_ids=len(full), ids_sha256_int32le=ids_digest(full), first_ids=full[:64]),
            cases=cases)
        with open(os.path.join(out_dir, 'cases.json'), 'w', encoding='utf-8') as f:
            json.dump(doc, f, ensure_ascii=False, indent=1)
            f.write('\n')
        log(style, f'vocab {doc["vocab_size_with_added"]}, eval ids {len(full)}, '
                   f'{sum(1 for c in cases if "ids_with_ignore_merges_flipped" in c)} cases change with ignore_merges, '
                   f'{sum(1 for c in cases if not c["roundtrip"])} cases do not round-trip')
