"""A CTranslate2 Whisper folder rewritten as a transformers Whisper folder, so both ASR backends
can run the same weights (`pkg:whisper-base` is packaged for CTranslate2 only).

CTranslate2's `model.bin` is a list of named arrays (`encoder/layer_0/self_attention/linear_0/
weight`, ...) with the query, key and value projections fused; the mapping below undoes what
ctranslate2's transformers converter does for Whisper.
"""

from __future__ import annotations

import json
import re
import shutil
import struct
from pathlib import Path

import numpy as np
from callscope.core.errors import ModelError

CT2_DTYPES = ("float32", "int8", "int16", "int32", "float16", "bfloat16")
SOT, EOT, TRANSCRIBE, TRANSLATE = 50258, 50257, 50359, 50358
START_OF_PREV, START_OF_LM, NO_SPEECH, NO_TIMESTAMPS = 50361, 50360, 50362, 50363


def read_ct2(path: Path) -> dict[str, np.ndarray]:
    """The arrays of a CTranslate2 model.bin, aliases resolved."""
    arrays: dict[str, np.ndarray] = {}
    with path.open("rb") as f:

        def number(fmt: str) -> int:
            return struct.unpack(fmt, f.read(struct.calcsize(fmt)))[0]

        def string() -> str:
            return f.read(number("H"))[:-1].decode()

        version = number("I")
        if version < 5:
            raise ModelError(f"{path}: CTranslate2 model format {version} is too old to convert")
        spec = string()
        if spec != "WhisperSpec":
            raise ModelError(f"{path}: a {spec}, not a Whisper model")
        number("I")  # revision
        for _ in range(number("I")):
            name = string()
            shape = tuple(number("I") for _ in range(number("B")))
            dtype = CT2_DTYPES[number("B")]
            data = f.read(number("I"))
            if dtype == "bfloat16":
                raw = np.frombuffer(data, dtype=np.uint16).astype(np.uint32) << 16
                arrays[name] = raw.view(np.float32).reshape(shape)
            else:
                arrays[name] = np.frombuffer(data, dtype=dtype).reshape(shape)
        for _ in range(number("I")):
            alias, target = string(), string()
            arrays[alias] = arrays[target]
    return arrays


def _layer_count(arrays: dict[str, np.ndarray], stack: str) -> int:
    found = {int(m.group(1)) for k in arrays if (m := re.match(rf"{stack}/layer_(\d+)/", k))}
    return max(found) + 1


def hf_state_dict(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """transformers WhisperForConditionalGeneration parameter names -> arrays."""
    out: dict[str, np.ndarray] = {}

    def put(name: str, value: np.ndarray) -> None:
        out[name] = np.ascontiguousarray(value)

    def norm(hf: str, ct2: str) -> None:
        put(f"{hf}.weight", arrays[f"{ct2}/gamma"])
        put(f"{hf}.bias", arrays[f"{ct2}/beta"])

    def linear(hf: str, ct2: str) -> None:
        put(f"{hf}.weight", arrays[f"{ct2}/weight"])
        put(f"{hf}.bias", arrays[f"{ct2}/bias"])

    def fused(hf: str, ct2: str, names: tuple[str, ...]) -> None:
        weights = np.split(arrays[f"{ct2}/weight"], len(names))
        biases = np.split(arrays[f"{ct2}/bias"], len(names))
        for name, weight, bias in zip(names, weights, biases, strict=True):
            put(f"{hf}.{name}.weight", weight)
            if name != "k_proj":  # Whisper's key projections have no bias (zeros in CT2)
                put(f"{hf}.{name}.bias", bias)

    for stack in ("encoder", "decoder"):
        hf_stack = f"model.{stack}"
        put(f"{hf_stack}.embed_positions.weight", arrays[f"{stack}/position_encodings/encodings"])
        norm(f"{hf_stack}.layer_norm", f"{stack}/layer_norm")
        for i in range(_layer_count(arrays, stack)):
            hf, ct2 = f"{hf_stack}.layers.{i}", f"{stack}/layer_{i}"
            norm(f"{hf}.self_attn_layer_norm", f"{ct2}/self_attention/layer_norm")
            fused(
                f"{hf}.self_attn", f"{ct2}/self_attention/linear_0", ("q_proj", "k_proj", "v_proj")
            )
            linear(f"{hf}.self_attn.out_proj", f"{ct2}/self_attention/linear_1")
            if stack == "decoder":
                norm(f"{hf}.encoder_attn_layer_norm", f"{ct2}/attention/layer_norm")
                linear(f"{hf}.encoder_attn.q_proj", f"{ct2}/attention/linear_0")
                fused(f"{hf}.encoder_attn", f"{ct2}/attention/linear_1", ("k_proj", "v_proj"))
                linear(f"{hf}.encoder_attn.out_proj", f"{ct2}/attention/linear_2")
            norm(f"{hf}.final_layer_norm", f"{ct2}/ffn/layer_norm")
            linear(f"{hf}.fc1", f"{ct2}/ffn/linear_0")
            linear(f"{hf}.fc2", f"{ct2}/ffn/linear_1")
    for conv in ("conv1", "conv2"):
        linear(f"model.encoder.{conv}", f"encoder/{conv}")
    put("model.decoder.embed_tokens.weight", arrays["decoder/embeddings/weight"])
    return out


def hf_config(arrays: dict[str, np.ndarray], ct2_config: dict) -> tuple[dict, dict]:
    """(config.json, generation_config.json) of the transformers model."""
    vocab, d_model = arrays["decoder/embeddings/weight"].shape
    heads = int(arrays["encoder/num_heads"]) if "encoder/num_heads" in arrays else d_model // 64
    lang_ids = ct2_config.get("lang_ids") or []
    config = {
        "architectures": ["WhisperForConditionalGeneration"],
        "model_type": "whisper",
        "vocab_size": int(vocab),
        "num_mel_bins": int(arrays["encoder/conv1/weight"].shape[1]),
        "d_model": int(d_model),
        "encoder_layers": _layer_count(arrays, "encoder"),
        "decoder_layers": _layer_count(arrays, "decoder"),
        "encoder_attention_heads": heads,
        "decoder_attention_heads": int(arrays.get("decoder/num_heads", heads)),
        "encoder_ffn_dim": int(arrays["encoder/layer_0/ffn/linear_0/weight"].shape[0]),
        "decoder_ffn_dim": int(arrays["decoder/layer_0/ffn/linear_0/weight"].shape[0]),
        "max_source_positions": int(arrays["encoder/position_encodings/encodings"].shape[0]),
        "max_target_positions": int(arrays["decoder/position_encodings/encodings"].shape[0]),
        "activation_function": "gelu",
        "scale_embedding": False,
        "tie_word_embeddings": True,
        "bos_token_id": EOT,
        "eos_token_id": EOT,
        "pad_token_id": EOT,
        "decoder_start_token_id": SOT,
        "suppress_tokens": ct2_config.get("suppress_ids", []),
        "begin_suppress_tokens": ct2_config.get("suppress_ids_begin", [220, EOT]),
        "torch_dtype": "float16",
    }
    generation = {
        "decoder_start_token_id": SOT,
        "bos_token_id": EOT,
        "eos_token_id": EOT,
        "pad_token_id": EOT,
        "max_length": config["max_target_positions"],
        "suppress_tokens": config["suppress_tokens"],
        "begin_suppress_tokens": config["begin_suppress_tokens"],
        "alignment_heads": ct2_config.get("alignment_heads", []),
        "is_multilingual": len(lang_ids) > 1,
        "lang_to_id": {},  # filled from the tokenizer
        "task_to_id": {"transcribe": TRANSCRIBE, "translate": TRANSLATE},
        "no_timestamps_token_id": NO_TIMESTAMPS,
        "prev_sot_token_id": START_OF_PREV,
        "max_initial_timestamp_index": 50,
        "return_timestamps": False,
    }
    return config, generation


def convert_folder(ct2_folder: Path, out: Path) -> None:
    """Write a transformers Whisper folder for the CTranslate2 one (safetensors, fp16)."""
    from safetensors.numpy import save_file

    bin_path = ct2_folder / "model.bin"
    tokenizer = ct2_folder / "tokenizer.json"
    if not bin_path.is_file() or not tokenizer.is_file():
        raise ModelError(f"{ct2_folder}: needs model.bin and tokenizer.json to be converted")
    ct2_config = json.loads((ct2_folder / "config.json").read_text(encoding="utf-8"))
    arrays = read_ct2(bin_path)
    config, generation = hf_config(arrays, ct2_config)
    added = json.loads(tokenizer.read_text(encoding="utf-8"))["added_tokens"]
    by_id = {token["id"]: token["content"] for token in added}
    generation["lang_to_id"] = {by_id[i]: i for i in ct2_config.get("lang_ids", []) if i in by_id}
    save_file(hf_state_dict(arrays), str(out / "model.safetensors"), metadata={"format": "pt"})
    _write_json(out / "config.json", config)
    _write_json(out / "generation_config.json", generation)
    _write_json(out / "preprocessor_config.json", _feature_extractor(config["num_mel_bins"]))
    shutil.copy2(tokenizer, out / "tokenizer.json")
    _write_json(
        out / "tokenizer_config.json",
        {
            "tokenizer_class": "WhisperTokenizer",
            "model_max_length": 1024,
            "bos_token": "<|endoftext|>",
            "eos_token": "<|endoftext|>",
            "unk_token": "<|endoftext|>",
            "pad_token": "<|endoftext|>",
            "errors": "replace",
        },
    )


def _feature_extractor(mel_bins: int) -> dict:
    return {
        "feature_extractor_type": "WhisperFeatureExtractor",
        "feature_size": mel_bins,
        "sampling_rate": 16000,
        "hop_length": 160,
        "chunk_length": 30,
        "n_fft": 400,
        "n_samples": 480000,
        "nb_max_frames": 3000,
        "padding_side": "right",
        "padding_value": 0.0,
        "return_attention_mask": False,
        "processor_class": "WhisperProcessor",
    }


def _write_json(path: Path, value: dict) -> None:
    path.write_text(json.dumps(value, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
