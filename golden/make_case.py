#!/usr/bin/env python3
"""make_case.py: compute a golden case (golden/FORMAT.md, format v1) with Hugging Face Transformers.

This is the parity kit: run it where Transformers is installed, on any Hugging Face Gemma2
folder, then check gemma2-ts against what it wrote:

    python golden/make_case.py --model models/my-gemma2 --prompt "The capital of France is" \
        --labels --trace --attentions --out my-case.safetensors
    npx gemma2 parity my-case.safetensors --models models      # models/ holds my-gemma2/

It loads the folder with `Gemma2ForCausalLM.from_pretrained(DIR, attn_implementation="eager")`,
casts it to `--dtype` (float64 by default: the closest thing to the exact answer), puts it in
eval mode and runs one of three kinds:

- `causal_lm` (default): `model(input_ids, attention_mask?, labels?, output_hidden_states=True)`:
  `logits`, `hidden_states.0..L`, and `loss` when there are labels (`--labels`: input_ids, -100
  on pads). `--trace` adds every hook point of lib/model/hook-points.ts as `trace.<name>`, taken
  by hooks on Transformers' modules during that same forward call; `--attentions` adds
  `attentions.<layer>`, the post-softmax weights [B, heads, T, T].
- `grad`: the causal LM loss (labels: the case's, else input_ids with -100 on pads), then
  `loss.backward()`: `loss`, `grad.<weight name>` for every weight.
- `generate`: greedy decoding of `--max-new-tokens` tokens (default 8), each step defined by the
  cache-free forward over the sequence so far (FORMAT.md: this Transformers version's
  HybridCache is wrong in two cases, issue #37574): `generated_ids`, `step_logits`. With left
  padding, positions are cumsum(mask) - 1 (pads get 1) and the mask grows by 1 per new token,
  as `generate()` does. EOS does not stop it: every row gets exactly N new tokens.

Inputs: `--prompt TEXT` (the folder's tokenizer, BOS as it adds it), `--ids 2,17,5` (rows
separated by `;`, all the same length), or `--inputs-from CASE.safetensors` (input_ids,
attention_mask and labels of an existing case; its kind, compute dtype and max_new_tokens are
the defaults: this is how the shipped goldens are reproduced).

The case's `model` field is the folder's basename, so `gemma2 parity --models <parent folder>`
finds the weights.

Good to know: a float64 run still computes RMSNorm, the RoPE tables, the attention softmax and
the loss in float32 (this is Transformers' code), and float32 results depend on the BLAS
kernels the machine picks (OpenBLAS: OPENBLAS_CORETYPE) at the 1e-4 level on the logits, well
inside the case tolerance.

Dependencies: torch, transformers, numpy (and the Python standard library). It writes safetensors
itself (a few lines below), so the `safetensors` package is not needed for the output.
"""

import argparse
import contextlib
import json
import math
import os
import struct
import sys
import types

import numpy as np
import torch

if not hasattr(torch, "_dynamo"):
    # torch < 2.0 has no torch._dynamo, and HybridCache.__init__ calls
    # torch._dynamo.mark_static_address (a compile hint only): a no-op stands in. Must happen
    # before transformers is imported.
    torch._dynamo = types.SimpleNamespace(mark_static_address=lambda t: None)

import transformers  # noqa: E402
from transformers.models.gemma2 import modeling_gemma2  # noqa: E402

# The tolerance of every shipped case (golden/MANIFEST.json), float32 and float64 cases alike:
# meant for an implementation computing in float32 against these expectations.
TOLERANCE = {"atol": 1e-4, "rtol": 1e-4}

KINDS = ("causal_lm", "grad", "generate")
DTYPES = {"float32": torch.float32, "float64": torch.float64}


class CaseError(Exception):
    """A usage or input problem: printed as one line, exit status 2."""


# ---------------------------------------------------------------------------------------------
# The hook points. This list must equal lib/model/hook-points.ts (MODEL_START_POINTS,
# LAYER_POINTS, MODEL_END_POINTS, LM_HEAD_POINTS), name for name and in the same order.

MODEL_START_POINTS = ["embed"]
LAYER_POINTS = [
    "resid_pre",
    "input_norm",
    "attn.q",
    "attn.k",
    "attn.v",
    "attn.scores",
    "attn.capped_scores",
    "attn.pattern",
    "attn.z",
    "attn.out",
    "post_attn_norm",
    "resid_mid",
    "pre_ff_norm",
    "mlp.gate",
    "mlp.up",
    "mlp.act",
    "mlp.gated",
    "mlp.out",
    "post_ff_norm",
    "resid_post",
]
MODEL_END_POINTS = ["final_norm"]
LM_HEAD_POINTS = ["logits_raw", "logits"]


def hook_point_names(layers, with_lm_head=True):
    """Every hook point name of a model with `layers` decoder layers, in forward order
    (lib/model/hook-points.ts hookPointNames)."""
    names = list(MODEL_START_POINTS)
    for i in range(layers):
        names += [f"layers.{i}.{p}" for p in LAYER_POINTS]
    names += MODEL_END_POINTS
    if with_lm_head:
        names += LM_HEAD_POINTS
    return names


# ---------------------------------------------------------------------------------------------
# safetensors (FORMAT.md): 8-byte LE u64 header length, JSON header, raw LE tensor bytes.

_ST_DTYPES = {
    torch.float64: ("F64", "<f8"),
    torch.float32: ("F32", "<f4"),
    torch.int64: ("I64", "<i8"),
    torch.bfloat16: ("BF16", "<u2"),
}
_ST_READ = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4"}


def _tensor_bytes(t):
    t = t.detach().cpu().contiguous()
    if t.dtype not in _ST_DTYPES:
        raise TypeError(f"cannot store dtype {t.dtype}")
    name, np_dtype = _ST_DTYPES[t.dtype]
    if t.dtype == torch.bfloat16:
        arr = t.view(torch.int16).numpy().view(np.uint16)
    else:
        arr = t.numpy()
    return name, list(t.shape), np.ascontiguousarray(arr, dtype=np_dtype).tobytes()


def write_safetensors(path, tensors, case):
    """tensors: dict name -> torch tensor (kept in order); case: the description dict."""
    header = {"__metadata__": {"case": json.dumps(case, sort_keys=True)}}
    blobs, offset = [], 0
    for name, t in tensors.items():
        dtype, shape, raw = _tensor_bytes(t)
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    hb = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hb += b" " * (-len(hb) % 8)  # pad the header to a multiple of 8 bytes, as the reference writer does
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hb)))
        f.write(hb)
        for raw in blobs:
            f.write(raw)


def read_safetensors(path):
    """Returns (tensors name -> torch tensor, case dict)."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", None) or {}
    data = raw[8 + n :]
    out = {}
    for name, info in header.items():
        b, e = info["data_offsets"]
        if info["dtype"] == "BF16":
            bits = np.frombuffer(data[b:e], dtype="<u2").astype(np.uint32) << 16
            arr = bits.view(np.float32)
        elif info["dtype"] in _ST_READ:
            arr = np.frombuffer(data[b:e], dtype=_ST_READ[info["dtype"]])
        else:
            raise CaseError(f"{path}: tensor {name} has unsupported dtype {info['dtype']}")
        out[name] = torch.from_numpy(arr.reshape(info["shape"]).copy())
    case = json.loads(meta["case"]) if "case" in meta else {}
    return out, case


# ---------------------------------------------------------------------------------------------
# Model and inputs


def load_model(model_dir, dtype):
    if not os.path.isdir(model_dir):
        raise CaseError(f"--model {model_dir}: no such folder")
    config_path = os.path.join(model_dir, "config.json")
    if not os.path.isfile(config_path):
        raise CaseError(f"--model {model_dir}: no config.json in it (expected a Hugging Face Gemma2 folder)")
    with open(config_path) as f:
        model_type = json.load(f).get("model_type")
    if model_type != "gemma2":
        raise CaseError(f"--model {model_dir}: config.json has model_type {model_type!r}, not 'gemma2'")
    model, info = modeling_gemma2.Gemma2ForCausalLM.from_pretrained(
        model_dir, attn_implementation="eager", output_loading_info=True
    )
    # The LM head is tied to the embedding: lm_head.weight is never stored.
    missing = [k for k in info["missing_keys"] if k != "lm_head.weight"]
    if missing:
        raise CaseError(f"--model {model_dir}: weights missing from the checkpoint: {', '.join(missing)}")
    model = model.to(DTYPES[dtype])
    model.eval()
    if model.config._attn_implementation != "eager":
        raise CaseError(f"attention implementation is {model.config._attn_implementation}, not eager")
    return model


def parse_ids(text):
    rows = []
    for row in text.split(";"):
        row = row.strip()
        if not row:
            continue
        try:
            rows.append([int(x) for x in row.split(",") if x.strip() != ""])
        except ValueError:
            raise CaseError(f"--ids {text!r}: expected comma-separated integers, rows separated by ';'")
    if not rows or not rows[0]:
        raise CaseError("--ids: no ids given")
    if len({len(r) for r in rows}) != 1:
        raise CaseError(f"--ids: rows have different lengths {[len(r) for r in rows]}; all must be equal (no padding)")
    return torch.tensor(rows, dtype=torch.int64)


def tokenize(model_dir, prompt):
    try:
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(model_dir)
    except Exception as e:  # no tokenizer files, or no tokenizer library installed
        raise CaseError(
            f"--prompt: could not load a tokenizer from {model_dir} ({type(e).__name__}: {e}); "
            "pass token ids with --ids 2,17,... instead"
        )
    ids = tok(prompt, return_tensors="pt")["input_ids"]
    return ids.to(torch.int64)


def gather_inputs(args):
    """Returns (input_ids, attention_mask or None, labels or None, the --inputs-from case's
    description or {})."""
    mask = labels = None
    case = {}
    if args.inputs_from:
        if not os.path.isfile(args.inputs_from):
            raise CaseError(f"--inputs-from {args.inputs_from}: no such file")
        tensors, case = read_safetensors(args.inputs_from)
        if "input_ids" not in tensors:
            raise CaseError(f"--inputs-from {args.inputs_from}: the case has no input_ids")
        ids = tensors["input_ids"].to(torch.int64)
        mask = tensors.get("attention_mask")
        labels = tensors.get("labels")
        if labels is not None and labels.dtype != torch.int64:
            raise CaseError(f"--inputs-from {args.inputs_from}: labels are {labels.dtype}, not token ids")
    elif args.ids is not None:
        ids = parse_ids(args.ids)
    else:
        ids = tokenize(args.model, args.prompt)
    if mask is not None:
        mask = mask.to(torch.int64)
        if mask.shape != ids.shape:
            raise CaseError(f"attention_mask shape {list(mask.shape)} differs from input_ids {list(ids.shape)}")
    return ids, mask, labels, case


def check_ids(ids, vocab_size):
    bad = ids[(ids < 0) | (ids >= vocab_size)]
    if bad.numel():
        raise CaseError(f"token ids outside the vocabulary [0, {vocab_size}): {sorted(set(bad.tolist()))[:10]}")


def default_labels(ids, mask):
    """labels = input_ids, -100 where the mask is 0 (pads are not predicted)."""
    labels = ids.clone()
    if mask is not None:
        labels[mask == 0] = -100
    return labels


# ---------------------------------------------------------------------------------------------
# The trace: forward hooks on Transformers' modules


def _first(out):
    """A module's main output: the first element when it returns a tuple."""
    return out[0] if isinstance(out, tuple) else out


class Tracer:
    """Registers hooks that record every hook point (hook_point_names) during one forward call.

    torch 1.13's hooks see positional arguments only; Gemma2Model calls each decoder layer as
    `layer(hidden_states, attention_mask=..., ...)` and the layer calls its norms, MLP
    projections and act_fn positionally, but calls self_attn with keywords only. So:
    every "input of X" point below is a pre-hook on a module called positionally, and the
    attention points come from its sub-modules (q/k via apply_rotary_pos_emb, v_proj, o_proj)
    and from Gemma2Attention's output tuple (out, weights).
    """

    def __init__(self, model):
        self.model = model
        self.cfg = model.config
        self.values = {}
        self.masks = {}  # layer -> the 4D mask eager attention added to the scores (for a check)
        self.layer = None  # the decoder layer running now
        self.handles = []
        self.saved = {}

    def put(self, name, t):
        if name in self.values:
            raise RuntimeError(f"hook point {name} fired twice")
        self.values[name] = t.detach().clone()

    def __enter__(self):
        m = self.model
        cfg = self.cfg
        H = cfg.num_attention_heads
        KV = cfg.num_key_value_heads
        hd = cfg.head_dim

        def on(module, name, pre=False, fn=None):
            fn = fn or (lambda t: t)
            if pre:
                h = module.register_forward_pre_hook(lambda mod, inp: self.put(name, fn(inp[0])))
            else:
                h = module.register_forward_hook(lambda mod, inp, out: self.put(name, fn(out)))
            self.handles.append(h)

        for i, layer in enumerate(m.model.layers):
            p = f"layers.{i}."

            def enter_layer(mod, inp, i=i, p=p):
                self.layer = i
                if i == 0:
                    self.put("embed", inp[0])  # the scaled embedding, layers[0]'s input
                self.put(p + "resid_pre", inp[0])

            self.handles.append(layer.register_forward_pre_hook(enter_layer))
            on(layer.input_layernorm, p + "input_norm")
            # v_proj output [B,T,kv*hd] viewed and transposed as Gemma2Attention.forward does.
            on(
                layer.self_attn.v_proj,
                p + "attn.v",
                fn=lambda t: t.view(t.shape[0], t.shape[1], KV, hd).transpose(1, 2),
            )
            # o_proj's input [B,T,heads*hd] is attn_output.reshape(...): per head again.
            on(
                layer.self_attn.o_proj,
                p + "attn.z",
                pre=True,
                fn=lambda t: t.view(t.shape[0], t.shape[1], H, hd),
            )
            # Gemma2Attention returns (o_proj output, attention weights or None, cache).
            self.handles.append(layer.self_attn.register_forward_hook(self._attn_out(p)))
            on(layer.post_attention_layernorm, p + "post_attn_norm")
            on(layer.pre_feedforward_layernorm, p + "resid_mid", pre=True)
            on(layer.pre_feedforward_layernorm, p + "pre_ff_norm")
            on(layer.mlp.gate_proj, p + "mlp.gate")
            on(layer.mlp.up_proj, p + "mlp.up")
            on(layer.mlp.act_fn, p + "mlp.act")
            on(layer.mlp.down_proj, p + "mlp.gated", pre=True)
            on(layer.mlp.down_proj, p + "mlp.out")
            on(layer.post_feedforward_layernorm, p + "post_ff_norm")
            on(layer, p + "resid_post", fn=_first)
        on(m.model.norm, "final_norm")
        on(m.lm_head, "logits_raw")

        # q and k after RoPE have no module: wrap the modeling file's apply_rotary_pos_emb,
        # which Gemma2Attention.forward looks up in the module's globals at every call.
        self.saved["rope"] = modeling_gemma2.apply_rotary_pos_emb
        rope = self.saved["rope"]

        def traced_rope(q, k, *a, **kw):
            q_embed, k_embed = rope(q, k, *a, **kw)
            self.put(f"layers.{self.layer}.attn.q", q_embed)
            self.put(f"layers.{self.layer}.attn.k", k_embed)
            return q_embed, k_embed

        modeling_gemma2.apply_rotary_pos_emb = traced_rope

        # The mask eager attention adds (the layer's sliding or global 4D mask) is not a module
        # input either: wrap the eager attention function to record it, for check_pattern only.
        # 4.47 dispatches through GEMMA2_ATTENTION_FUNCTION["eager"]; later versions call the
        # module's eager_attention_forward. Both take (config or module, query, key, value, mask).
        table = getattr(modeling_gemma2, "GEMMA2_ATTENTION_FUNCTION", None)
        eager = table["eager"] if table is not None else modeling_gemma2.eager_attention_forward
        self.saved["eager"] = eager

        def traced_eager(owner, query, key, value, mask, *a, **kw):
            self.masks[self.layer] = None if mask is None else mask[:, :, :, : key.shape[-2]].detach().clone()
            return eager(owner, query, key, value, mask, *a, **kw)

        self._set_eager(traced_eager)
        return self

    @staticmethod
    def _set_eager(fn):
        table = getattr(modeling_gemma2, "GEMMA2_ATTENTION_FUNCTION", None)
        if table is not None:
            table["eager"] = fn
        else:
            modeling_gemma2.eager_attention_forward = fn

    def _attn_out(self, p):
        def hook(mod, inp, out):
            self.put(p + "attn.out", out[0])
            if out[1] is None:
                raise RuntimeError("the trace needs output_attentions=True (attn.pattern)")
            self.put(p + "attn.pattern", out[1])

        return hook

    def __exit__(self, *exc):
        for h in self.handles:
            h.remove()
        self.handles = []
        modeling_gemma2.apply_rotary_pos_emb = self.saved["rope"]
        self._set_eager(self.saved["eager"])
        return False

    def finish(self, logits):
        """Adds the points no hook sees, checks them, returns the trace in hook-point order."""
        cfg = self.cfg
        self.put("logits", logits)
        for i, attn in enumerate(layer.self_attn for layer in self.model.model.layers):
            p = f"layers.{i}."
            q, k = self.values[p + "attn.q"], self.values[p + "attn.k"]
            # attn.scores and attn.capped_scores are intermediate values of eager_attention_forward
            # with no module boundary: recompute them from the captured q and k with the modeling
            # file's own operations, in the model dtype, exactly as it does (repeat_kv, matmul,
            # * scaling, then / c, tanh, * c).
            with torch.no_grad():
                k_rep = modeling_gemma2.repeat_kv(k, attn.num_key_value_groups)
                scores = torch.matmul(q, k_rep.transpose(2, 3)) * attn.scaling
                capped = scores
                if cfg.attn_logit_softcapping is not None:
                    capped = torch.tanh(scores / cfg.attn_logit_softcapping) * cfg.attn_logit_softcapping
            self.put(p + "attn.scores", scores)
            self.put(p + "attn.capped_scores", capped)
            self.check_pattern(i, capped)
        names = hook_point_names(cfg.num_hidden_layers, with_lm_head=True)
        missing = [n for n in names if n not in self.values]
        extra = [n for n in self.values if n not in names]
        if missing or extra:
            raise RuntimeError(f"trace mismatch: missing {missing}, unexpected {extra}")
        return {n: self.values[n] for n in names}

    def check_pattern(self, i, capped):
        """softmax(capped + mask) (float32 softmax, as eager attention does) must equal the
        weights Transformers returned: proves the recomputed scores are the ones it used."""
        p = f"layers.{i}."
        pattern = self.values[p + "attn.pattern"]
        if i not in self.masks:
            raise RuntimeError(f"{p}: eager attention was not called through the wrapped function")
        mask = self.masks[i]
        with torch.no_grad():
            s = capped if mask is None else capped + mask
            again = torch.softmax(s, dim=-1, dtype=torch.float32).to(capped.dtype)
        diff = (again - pattern).abs().max().item()
        if not diff <= 0.0:
            raise RuntimeError(f"{p}attn.pattern: softmax(capped_scores + mask) differs from Transformers' by {diff}")


# ---------------------------------------------------------------------------------------------
# The kinds


def run_causal_lm(model, ids, mask, labels, trace, attentions):
    out = {}
    tracer = Tracer(model) if trace else None
    with torch.no_grad(), (tracer or contextlib.nullcontext()):
        # output_attentions changes no arithmetic in eager attention; the trace needs the
        # weights it returns (attn.pattern).
        res = model(
            input_ids=ids,
            attention_mask=mask,
            labels=labels,
            use_cache=False,
            output_hidden_states=True,
            output_attentions=trace or attentions,
        )
    dtype = res.logits.dtype
    out["logits"] = res.logits
    for i, h in enumerate(res.hidden_states):
        out[f"hidden_states.{i}"] = h
    if labels is not None:
        # This version computes the loss from logits.float(): a float32 value, stored in the
        # compute dtype as the shipped goldens do.
        out["loss"] = res.loss.to(dtype)
    if tracer:
        tr = tracer.finish(res.logits)
        # The trace and the outputs come from the same call: they must agree exactly.
        L = model.config.num_hidden_layers
        same = [(tr["embed"], res.hidden_states[0]), (tr["final_norm"], res.hidden_states[L])]
        same += [(tr[f"layers.{i}.resid_post"], res.hidden_states[i + 1]) for i in range(L - 1)]
        if not all(torch.equal(a, b) for a, b in same):
            raise RuntimeError("the trace disagrees with hidden_states of the same forward call")
        for name, t in tr.items():
            out[f"trace.{name}"] = t
    if attentions:
        for i, a in enumerate(res.attentions):
            out[f"attentions.{i}"] = a
    return out


def weight_names(model):
    """Every stored weight, Hugging Face names, in named_parameters order (the tied lm_head
    appears once, as model.embed_tokens.weight), as the shipped grad goldens hold them."""
    return [n for n, _ in model.named_parameters()]


def run_grad(model, ids, mask, labels):
    model.zero_grad(set_to_none=True)
    res = model(input_ids=ids, attention_mask=mask, labels=labels, use_cache=False)
    res.loss.backward()
    dtype = res.logits.dtype
    out = {"loss": res.loss.detach().to(dtype)}
    params = dict(model.named_parameters())
    for name in weight_names(model):
        g = params[name].grad
        out[f"grad.{name}"] = torch.zeros_like(params[name]) if g is None else g
    return out


def run_generate(model, ids, mask, max_new_tokens):
    """Greedy decoding by the cache-free forward over the whole sequence at every step."""
    seq = ids.clone()
    m = None if mask is None else mask.clone()
    step_logits = []
    margin = math.inf
    with torch.no_grad():
        for _ in range(max_new_tokens):
            pos = None
            if m is not None:
                pos = m.cumsum(-1) - 1
                pos = pos.masked_fill(m == 0, 1)  # as generate()'s prepare_inputs_for_generation
            logits = model(input_ids=seq, attention_mask=m, position_ids=pos, use_cache=False).logits[:, -1, :]
            top2 = torch.topk(logits.double(), 2, dim=-1).values
            margin = min(margin, (top2[:, 0] - top2[:, 1]).min().item())
            nxt = logits.argmax(-1, keepdim=True)
            step_logits.append(logits)
            seq = torch.cat([seq, nxt], dim=-1)
            if m is not None:
                m = torch.cat([m, torch.ones_like(nxt)], dim=-1)
    return {"generated_ids": seq, "step_logits": torch.stack(step_logits, dim=1)}, margin


# ---------------------------------------------------------------------------------------------


def describe(args, kind, ids, mask, labels):
    if args.description:
        return args.description
    B, T = ids.shape
    parts = [f"{kind} on {os.path.basename(os.path.normpath(args.model))}, B={B}, T={T}"]
    if mask is not None:
        pads = (mask == 0).sum(-1).tolist()
        parts.append(f"attention mask (pads per row {pads}; position_ids "
                     + ("cumsum(mask)-1, pads 1" if kind == "generate" else "default arange(T)") + ")")
    if kind == "causal_lm":
        parts.append("labels given (loss)" if labels is not None else "no labels")
        if args.trace:
            parts.append("trace.* from hooks on Transformers' modules in the same forward call")
        if args.attentions:
            parts.append("attentions.* = output_attentions weights")
    if kind == "generate":
        parts.append(f"{args.max_new_tokens} greedy tokens, each the cache-free forward's argmax")
    if args.inputs_from:
        parts.append(f"inputs from {os.path.basename(args.inputs_from)}")
    return "; ".join(parts) + "."


def main(argv=None):
    ap = argparse.ArgumentParser(
        description="Compute a golden case (golden/FORMAT.md v1) with Hugging Face Transformers' Gemma2.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="example:\n  python golden/make_case.py --model golden/models/tiny --ids 2,17,40,9 "
        "--trace --out tiny-mine.safetensors",
    )
    ap.add_argument("--model", required=True, help="a Hugging Face Gemma2 folder (config.json + safetensors)")
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--prompt", help="text, tokenized by the folder's tokenizer (BOS as it adds it)")
    src.add_argument("--ids", help="token ids: 2,17,5 (several rows of one length: 2,17;2,40)")
    src.add_argument("--inputs-from", metavar="CASE", help="take input_ids/attention_mask/labels from a case file")
    ap.add_argument("--kind", choices=KINDS, help="default: the --inputs-from case's kind, else causal_lm")
    ap.add_argument("--dtype", choices=sorted(DTYPES),
                    help="the compute dtype (default: the --inputs-from case's, else float64)")
    ap.add_argument("--labels", action="store_true",
                    help="causal_lm: labels = input_ids (-100 on pads), so the case has a loss")
    ap.add_argument("--trace", action="store_true", help="causal_lm: also write trace.<hook point> tensors")
    ap.add_argument("--attentions", action="store_true", help="causal_lm: also write attentions.<layer>")
    ap.add_argument("--max-new-tokens", type=int, help="generate: tokens to generate (default 8, or the case's)")
    ap.add_argument("--name", help="the case name (default: the --out file's name without .safetensors)")
    ap.add_argument("--description", help="the case's one-sentence description (default: made up from the run)")
    ap.add_argument("--out", required=True, help="the case file to write")
    args = ap.parse_args(argv)

    try:
        ids, mask, labels, source = gather_inputs(args)
        if args.kind is None:
            args.kind = source.get("kind") if source.get("kind") in KINDS else "causal_lm"
        if args.dtype is None:
            args.dtype = source.get("compute_dtype") if source.get("compute_dtype") in DTYPES else "float64"
        if (args.trace or args.attentions) and args.kind != "causal_lm":
            raise CaseError(f"--trace/--attentions need --kind causal_lm (got {args.kind})")
        if args.labels and args.kind != "causal_lm":
            raise CaseError("--labels is for --kind causal_lm (grad always has labels)")
        if args.max_new_tokens is not None and args.kind != "generate":
            raise CaseError("--max-new-tokens is for --kind generate")

        dtype = args.dtype
        model = load_model(args.model, dtype)
        check_ids(ids, model.config.vocab_size)
        if args.kind == "causal_lm" and args.labels and labels is None:
            labels = default_labels(ids, mask)
        if args.kind == "grad" and labels is None:
            labels = default_labels(ids, mask)
        if args.kind == "generate":
            labels = None  # a generate case has no labels

        params = {}
        if args.kind == "causal_lm":
            tensors = run_causal_lm(model, ids, mask, labels, args.trace, args.attentions)
        elif args.kind == "grad":
            tensors = run_grad(model, ids, mask, labels)
        else:
            n = args.max_new_tokens if args.max_new_tokens is not None else int(source.get("params", {}).get("max_new_tokens", 8))
            if n < 1:
                raise CaseError("--max-new-tokens must be at least 1")
            args.max_new_tokens = n
            tensors, margin = run_generate(model, ids, mask, n)
            params = {"max_new_tokens": n, "max_cache_len": ids.shape[1] + n,
                      "min_greedy_margin": round(margin, 6)}
            if margin < 1e-3:
                print(f"warning: a greedy choice won by only {margin:.3g}: the case is fragile", file=sys.stderr)

        name = args.name or os.path.basename(args.out)
        if not args.name and name.endswith(".safetensors"):
            name = name[: -len(".safetensors")]
        case = {
            "name": name,
            "model": os.path.basename(os.path.normpath(args.model)),
            "kind": args.kind,
            "compute_dtype": dtype,
            "tolerance": dict(TOLERANCE),
            "transformers_version": transformers.__version__,
            "torch_version": torch.__version__,
            "attn_implementation": "eager",
            "params": params,
            "description": describe(args, args.kind, ids, mask, labels),
        }
        inputs = {"input_ids": ids}
        if mask is not None:
            inputs["attention_mask"] = mask
        if labels is not None:
            inputs["labels"] = labels.to(torch.int64)
        for t in tensors.values():
            if t.dtype.is_floating_point and t.dtype != DTYPES[dtype]:
                raise RuntimeError(f"an expected tensor came out {t.dtype}, not {dtype}")
        write_safetensors(args.out, {**inputs, **tensors}, case)
    except CaseError as e:
        print(f"make_case.py: {e}", file=sys.stderr)
        return 2
    print(f"wrote {args.out}: {case['name']} ({args.kind}, {dtype}, {len(inputs) + len(tensors)} tensors)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
