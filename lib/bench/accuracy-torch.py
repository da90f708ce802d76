#!/usr/bin/python3
# The PyTorch side of `npm run bench:accuracy` (lib/bench/accuracy.ts): a
# plain-PyTorch Gemma2 forward (no Hugging Face Transformers) that reproduces
# Transformers 4.47's eager Gemma2 computation, run once in float32 (as
# Transformers computes it) and once in float64 with every op in float64 (the
# rotary tables, RMSNorm, softmax and loss too, unlike Transformers' float64
# mode; the additive mask still uses the float32 minimum, as reference/gemma2.ts).
#
#   accuracy-torch.py --model DIR --inputs inputs.safetensors --out PREFIX
#                     [--precisions float32,float64] [--grads] [--threads 2]
#
# Reads the Hugging Face folder (config.json + safetensors, one file or shards,
# F32/BF16/F16/F64) and the inputs (int32 input_ids, attention_mask, labels
# [B, T]) with the small numpy safetensors reader below, and writes
# PREFIX-<precision>.safetensors: hidden_states.0 .. hidden_states.L
# (Transformers' convention: .L after the final norm), logits, loss, and with
# --grads grad.<weight name> for every weight (the causal-LM loss's gradient).
# Prints one JSON object on stdout: torch version, threads, seconds per step,
# peak resident memory.

import argparse
import gc
import json
import math
import os
import resource
import struct
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

# ---- safetensors, numpy only ----------------------------------------------------------

NUMPY_DTYPES = {'F64': np.float64, 'F32': np.float32, 'I64': np.int64, 'I32': np.int32, 'U8': np.uint8}
SAFETENSORS_DTYPES = {np.dtype(np.float64): 'F64', np.dtype(np.float32): 'F32', np.dtype(np.int64): 'I64', np.dtype(np.int32): 'I32'}


def iter_safetensors(path):
    """(name, numpy array) one tensor at a time, each a fresh array; BF16 and F16 widened exactly to float32."""
    with open(path, 'rb') as f:
        (length,) = struct.unpack('<Q', f.read(8))
        header = json.loads(f.read(length))
        for name, info in header.items():
            if name == '__metadata__':
                continue
            begin, end = info['data_offsets']
            f.seek(8 + length + begin)
            raw = np.fromfile(f, dtype=np.uint8, count=end - begin)  # read, not mapped: only this tensor's bytes are held
            dtype = info['dtype']
            if dtype == 'BF16':
                bits = raw.view(np.uint16).astype(np.uint32)
                bits <<= 16  # a bfloat16 is the top half of a float32
                array = bits.view(np.float32)
            elif dtype == 'F16':
                array = raw.view(np.float16).astype(np.float32)
            elif dtype in NUMPY_DTYPES:
                array = raw.view(NUMPY_DTYPES[dtype])
            else:
                raise ValueError(f'{path}: {name} is {dtype}, which this reader does not read')
            yield name, array.reshape(info['shape'])


def read_safetensors(path):
    return dict(iter_safetensors(path))


def write_safetensors(path, tensors):
    """tensors: list of (name, numpy array); F64/F32/I64/I32, written one at a time."""
    entries, offset = {}, 0
    for name, array in tensors:
        size = array.size * array.dtype.itemsize
        entries[name] = {'dtype': SAFETENSORS_DTYPES[array.dtype], 'shape': list(array.shape), 'data_offsets': [offset, offset + size]}
        offset += size
    header = json.dumps({'__metadata__': {'format': 'pt'}, **entries}, separators=(',', ':')).encode()
    header += b' ' * (-len(header) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(header)))
        f.write(header)
        for _, array in tensors:
            f.write(memoryview(np.ascontiguousarray(array)).cast('B'))


def iter_checkpoint(folder):
    """(name, numpy array) from model.safetensors or the shards of model.safetensors.index.json, one at a time."""
    single = os.path.join(folder, 'model.safetensors')
    if os.path.exists(single):
        yield from iter_safetensors(single)
        return
    with open(os.path.join(folder, 'model.safetensors.index.json')) as f:
        files = sorted(set(json.load(f)['weight_map'].values()))
    for file in files:
        yield from iter_safetensors(os.path.join(folder, file))


# ---- the model ------------------------------------------------------------------------

# torch.finfo(torch.float32).min: added at masked scores, in both precisions (as reference/gemma2.ts).
MASKED = float(torch.finfo(torch.float32).min)


def rms_norm(x, w, eps):
    # Gemma2RMSNorm: x.float() * rsqrt(mean(x^2) + eps) * (1 + w.float()), cast back; here the
    # compute dtype is float32 (already) or float64 (everything in float64).
    return (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)) * (1.0 + w)


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def rotary_tables(positions, hd, theta, dtype):
    # Gemma2RotaryEmbedding: inv_freq = 1 / (theta ** (arange(0, hd, 2) / hd)); angles [p * inv, p * inv].
    inv_freq = 1.0 / (theta ** (torch.arange(0, hd, 2, dtype=torch.int64).to(dtype) / hd))
    freqs = positions.to(dtype)[:, :, None] * inv_freq[None, None, :]  # [B, T, hd/2]; one rounding, as the [hd/2,1]@[1,T] matmul
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos(), emb.sin()


def additive_masks(attention_mask, window, dtype):
    """[B, 1, T, T] masks for (global, sliding) layers: 0 where a query may see a key, MASKED elsewhere."""
    B, T = attention_mask.shape
    q = torch.arange(T)[:, None]
    k = torch.arange(T)[None, :]
    causal = (k <= q)[None, None] & (attention_mask[:, None, None, :] != 0)
    sliding = causal & (k > q - window)[None, None]
    zero = torch.zeros((), dtype=dtype)
    masked = torch.tensor(MASKED, dtype=dtype)
    return torch.where(causal, zero, masked), torch.where(sliding, zero, masked)


def attention(cfg, W, i, a, cos, sin, mask, dtype):
    B, T, _ = a.shape
    nh, nkv, hd = cfg['num_attention_heads'], cfg['num_key_value_heads'], cfg['head_dim']
    p = f'model.layers.{i}.self_attn'
    q = F.linear(a, W[f'{p}.q_proj.weight']).view(B, T, nh, hd).transpose(1, 2)
    k = F.linear(a, W[f'{p}.k_proj.weight']).view(B, T, nkv, hd).transpose(1, 2)
    v = F.linear(a, W[f'{p}.v_proj.weight']).view(B, T, nkv, hd).transpose(1, 2)
    cos, sin = cos[:, None], sin[:, None]  # [B, 1, T, hd], shared by the heads
    q = q * cos + rotate_half(q) * sin
    k = k * cos + rotate_half(k) * sin
    k = k.repeat_interleave(nh // nkv, dim=1)  # Transformers' repeat_kv: query head n uses kv head n // group
    v = v.repeat_interleave(nh // nkv, dim=1)
    s = torch.matmul(q, k.transpose(2, 3)) * cfg['query_pre_attn_scalar'] ** -0.5
    cap = cfg.get('attn_logit_softcapping')
    if cap is not None:
        s = torch.tanh(s / cap) * cap
    s = s + mask  # added, not filled
    probs = F.softmax(s, dim=-1, dtype=torch.float32).to(dtype) if dtype == torch.float32 else F.softmax(s, dim=-1)
    o = torch.matmul(probs, v).transpose(1, 2).reshape(B, T, nh * hd)
    return F.linear(o, W[f'{p}.o_proj.weight'])


def forward(cfg, W, ids, attention_mask, labels, dtype):
    """(hidden_states [L + 1], logits [B, T, V], loss) of Gemma2ForCausalLM's eager forward."""
    B, T = ids.shape
    H, L, eps = cfg['hidden_size'], cfg['num_hidden_layers'], cfg.get('rms_norm_eps', 1e-6)
    layer_types = cfg.get('layer_types') or ['sliding_attention' if i % 2 == 0 else 'full_attention' for i in range(L)]
    pad = cfg.get('pad_token_id', 0)
    embed = W['model.embed_tokens.weight']
    # embed[x] * sqrt(H), the multiplier first rounded to the compute dtype; the pad row gets no lookup gradient
    h = F.embedding(ids, embed, padding_idx=pad) * torch.tensor(H**0.5, dtype=dtype)
    positions = torch.arange(T)[None, :].expand(B, T)  # a plain forward: 0..T-1 whatever the padding
    cos, sin = rotary_tables(positions, cfg['head_dim'], cfg.get('rope_theta', 10000.0), dtype)
    global_mask, sliding_mask = additive_masks(attention_mask, cfg['sliding_window'], dtype)
    hidden_states = []
    for i in range(L):
        hidden_states.append(h)
        norm = lambda name: W[f'model.layers.{i}.{name}.weight']  # noqa: E731
        mask = sliding_mask if layer_types[i] == 'sliding_attention' else global_mask
        a = attention(cfg, W, i, rms_norm(h, norm('input_layernorm'), eps), cos, sin, mask, dtype)
        h = h + rms_norm(a, norm('post_attention_layernorm'), eps)
        m = rms_norm(h, norm('pre_feedforward_layernorm'), eps)
        p = f'model.layers.{i}.mlp'
        m = F.linear(F.gelu(F.linear(m, W[f'{p}.gate_proj.weight']), approximate='tanh') * F.linear(m, W[f'{p}.up_proj.weight']), W[f'{p}.down_proj.weight'])
        h = h + rms_norm(m, norm('post_feedforward_layernorm'), eps)
    h = rms_norm(h, W['model.norm.weight'], eps)
    hidden_states.append(h)
    head = embed if cfg.get('tie_word_embeddings', True) else W['lm_head.weight']
    logits = F.linear(h, head)
    cap = cfg.get('final_logit_softcapping')
    if cap is not None:
        logits = torch.tanh(logits / cap) * cap
    # ForCausalLMLoss: logits.float() (a no-op here), shift by one, mean over labels != -100
    V = logits.shape[-1]
    loss = F.cross_entropy(logits[:, :-1].reshape(-1, V), labels[:, 1:].reshape(-1), ignore_index=-100)
    return hidden_states, logits, loss


def max_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(cfg, folder, inputs, precision, grads, out_file):
    dtype = {'float32': torch.float32, 'float64': torch.float64}[precision]
    report = {}
    start = time.perf_counter()
    W = {}
    for name, array in iter_checkpoint(folder):
        # one weight widened at a time (float32 exactly as stored; float64 from that)
        W[name] = torch.from_numpy(array.astype(np.float64 if dtype == torch.float64 else np.float32, copy=False))
        if grads:
            W[name].requires_grad_(True)
    report['load_s'] = time.perf_counter() - start
    ids = torch.from_numpy(inputs['input_ids'].astype(np.int64))
    mask = torch.from_numpy(inputs['attention_mask'].astype(np.int64))
    labels = torch.from_numpy(inputs['labels'].astype(np.int64))
    start = time.perf_counter()
    with torch.set_grad_enabled(grads):
        hidden_states, logits, loss = forward(cfg, W, ids, mask, labels, dtype)
    report['forward_s'] = time.perf_counter() - start
    if grads:
        start = time.perf_counter()
        loss.backward()
        report['backward_s'] = time.perf_counter() - start
    out = [(f'hidden_states.{i}', h.detach().numpy()) for i, h in enumerate(hidden_states)]
    out += [('logits', logits.detach().numpy()), ('loss', loss.detach().reshape(1).numpy())]
    if grads:
        out += [(f'grad.{name}', w.grad.numpy()) for name, w in W.items()]
    start = time.perf_counter()
    write_safetensors(out_file, out)
    report['write_s'] = time.perf_counter() - start
    report['loss'] = float(loss)
    del W, hidden_states, logits, loss, out
    gc.collect()
    return report


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--model', required=True)
    parser.add_argument('--inputs', required=True)
    parser.add_argument('--out', required=True, help='output prefix: PREFIX-float32.safetensors, PREFIX-float64.safetensors')
    parser.add_argument('--precisions', default='float32,float64')
    parser.add_argument('--grads', action='store_true')
    parser.add_argument('--threads', type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with open(os.path.join(args.model, 'config.json')) as f:
        cfg = json.load(f)
    inputs = {k: np.array(v) for k, v in read_safetensors(args.inputs).items()}
    result = {'torch': torch.__version__, 'threads': torch.get_num_threads(), 'runs': {}}
    for precision in args.precisions.split(','):
        print(f'    torch {precision}...', file=sys.stderr, flush=True)
        result['runs'][precision] = run(cfg, args.model, inputs, precision, args.grads, f'{args.out}-{precision}.safetensors')
        result['runs'][precision]['max_rss_mib_so_far'] = max_rss_mib()
    result['max_rss_mib'] = max_rss_mib()
    print(json.dumps(result))


if __name__ == '__main__':
    main()
