#!/usr/bin/env python3
"""Golden log-likelihoods for Tern's evaluation (tern.eval), from PyTorch + transformers.

Two steps:

  python3 tools/reference/eval_golden.py items --out src/test/resources/eval/golden/items
      (no PyTorch needed) writes 50 items per task format in the tasks' public file formats, composed
      by a seeded generator from the hand-written phrase lists below, plus a short text for perplexity.

  python3 tools/reference/eval_golden.py score --items src/test/resources/eval/golden/items \
          --model src/test/resources/golden/float --out OUT
      (PyTorch + transformers, no network) builds every task's prompts the way lm-evaluation-harness 0.4
      does (its own implementation here, independent of the Java one), scores each (context,
      continuation) pair with the model and writes OUT/eval_golden.json. When --model holds no
      model.safetensors + config.json, a tiny LlamaForCausalLM is made with a fixed seed and saved in
      OUT/model.safetensors + OUT/config.json beside the results.

Tokenizer: one token per UTF-8 byte, id = byte % vocab, end-of-text id = vocab - 1 (Tern's
TextEncoder.bytes). Both sides agree on it, so no BPE tokenizer is needed here. Everything runs on the CPU
in float32 (log-softmax in float64), as the Java side does; only the sums' order differs.
"""
import argparse
import json
import math
import os
import random
import re

N_ITEMS = 50
ITEM_SEED = 20261123
MODEL_SEED = 1234
PPL_CONTEXT, PPL_STRIDE = 64, 24

# ---- hand-written phrase lists -------------------------------------------------------------------------

PEOPLE = ["Marta", "the old baker", "Jonas", "a tired nurse", "the twins", "Priya", "the captain", "Léa",
          "our neighbour", "the new teacher", "Tomás", "a quiet student"]
ACTIONS = ["opened the window", "folded the letter", "fed the cat", "locked the shed", "painted the fence",
           "watered the tomatoes", "tuned the old piano", "counted the coins", "mended the net",
           "swept the porch", "wrote down the address", "lit the stove"]
PLACES = ["in the kitchen", "by the harbour", "at the station", "under the bridge", "near the café",
          "on the roof", "behind the library", "at the market", "in the garden", "beside the river"]
ENDWORDS = ["door", "boat", "bread", "garden", "letter", "window", "piano", "river", "lamp", "ticket",
            "naïveté", "snow", "key", "map", "coat"]
GOALS = ["How do you keep bread fresh for longer?", "remove a stain from a shirt", "To light a candle safely,",
         "How can you cool soup quickly?", "open a tight bottle cap", "To keep ants out of the sugar,",
         "How do you dry herbs?", "clean a burnt pan", "To carry eggs without breaking them,",
         "How do you stop a door from squeaking?"]
GOOD = ["put it in a sealed box in a cool place.", "soak it in cold water with a little soap.",
        "use a long match and keep it away from curtains.", "set the pot in a bowl of ice water.",
        "tap the edge gently and twist with a cloth.", "store it in a jar with a tight lid.",
        "hang them upside down in a dry room.", "boil water with baking soda in it, then scrub.",
        "pack them in a carton with paper around it.", "put a drop of oil on the hinge."]
BAD = ["leave it in the rain overnight.", "rub it with hot chocolate.", "hold it over the sink and shout.",
       "put it on the roof for a week.", "freeze it inside a shoe.", "paint it bright green.",
       "throw it into the fire.", "bury it in the garden.", "fill it with sand.", "sing to it loudly."]
ACTIVITIES = ["Washing dishes", "Home and Garden", "Running", "Cooking eggs", "Riding a bike",
              "Personal Care and Style", "Playing guitar", "Fixing a tire"]
CTX_A = ["A man fills a sink with soapy water.", "[header] How to plant a tree [title] Dig a wide hole.",
         "A woman laces her shoes at the start of a track.", "A cook cracks two eggs into a bowl.",
         "[header] How to braid hair [title] Brush the hair smooth. [step] Split it into three parts.",
         "A boy pumps up the front tyre of his bike.", "A girl sits down with a guitar on her knee.",
         "[title] Lift the car with a jack. [step] Make sure it stands on flat ground."]
CTX_B = ["he", "she", "THE water", "they", "", "then", "the man", "a friend"]
ENDINGS = ["scrubs the plates and rinses them.", "[substeps] Pour the soil back  around the roots.",
           " runs off when the whistle blows. ", "whisks them with a fork.", "[title] Wraps it with a band.",
           "rides down the street.", "strums the first chord.", "turns the wheel nuts slowly.",
           "eats the sponge.", "flies over the moon.", "paints the sky green.", "sings to the tyre."]
QUESTIONS = ["Which of these is a source of light?", "What do plants need to make food?",
             "Which tool measures temperature?", "What happens to water when it freezes?",
             "Which animal is a mammal?", "What force pulls objects toward Earth?",
             "Which material conducts electricity best?", "What is the main gas in the air we breathe?"]
ANSWERS = ["the Sun", "sunlight", "a thermometer", "it turns into ice", "a whale", "gravity", "copper",
           "nitrogen", "a rock", "sand", "a ruler", "it turns into steam", "a shark", "magnetism", "wood",
           "helium"]
SUPPORTS = ["Plants make sugar by photosynthesis, using carbon dioxide, water and the energy of light.",
            "  Force is measured in newtons, named after Isaac Newton.", "",
            "Water boils at 100 degrees Celsius at sea level; at higher places it boils at lower temperatures.",
            "Mammals feed their young with milk. Whales and bats are mammals, though one swims and one flies.",
            "Metals such as copper and silver carry electric current easily."]
SCI_Q = ["What gas do plants take in?", "What is the unit of force?", "At what temperature does water boil?",
         "Which of these is a mammal?", "Which metal carries current well?"]
SCI_WORDS = ["carbon dioxide", "oxygen", "newton", "joule", "100 degrees", "50 degrees", "whale", "trout",
             "copper", "glass", "helium", "watt"]
WINO = [("The cup did not fit in the bag because the _ was too big.", "cup", "bag"),
        ("{a} lent {b} a book because _ had finished reading it.", None, None),
        ("The snow melted but the ice stayed, since the _ was thicker  ", "snow", "ice"),
        ("{a} thanked {b} because _ had fixed the bike.", None, None),
        ("The lamp lit the room better than the candle because the _ was brighter.", "lamp", "candle"),
        ("{a} could not lift the box for {b} because _ was too weak.", None, None)]
NAMES = ["Sam", "Alex", "Noor", "Kenji", "Ana", "Olu", "Björn", "Mia"]
TEXT = ("The lighthouse keeper climbed the stairs every evening at dusk. He wound the clockwork, trimmed "
        "the wick and polished the great lens until it shone. Ships passing in the night saw the beam sweep "
        "across the water, once every twelve seconds, and knew where the rocks lay. In winter the storms "
        "came from the west; the tower shook, salt crusted the glass, and still the light turned. "
        "Years later, when the lamp was made electric and the keeper was no longer needed, he kept a key "
        "to the door. On calm evenings he would walk up the hill, sit on the bench by the wall, and count "
        "the flashes: one, two, three... twelve. Then he went home and slept soundly, café au lait and all.")


def _items(rng):
    """Documents of every task in its public format, keyed by file name."""
    files = {}
    lam = []
    for i in range(N_ITEMS):
        if i == 7:
            lam.append({"text": rng.choice(ENDWORDS)})                       # no space: empty context
            continue
        s = f"{rng.choice(PEOPLE).capitalize()} {rng.choice(ACTIONS)} {rng.choice(PLACES)}."
        if i % 3 == 0:
            s += "\n\n\"Where is it?\" asked " + rng.choice(PEOPLE) + "."
        if i % 5 == 1:
            s += " " + " ".join(f"{rng.choice(PEOPLE)} {rng.choice(ACTIONS)}." for _ in range(4))
        lam.append({"text": s + " Then we went to look for the " + rng.choice(ENDWORDS)})
    files["lambada_test.jsonl"] = lam
    piqa, labels = [], []
    for i in range(N_ITEMS):
        k = rng.randrange(len(GOALS))
        good, bad = GOOD[k], rng.choice(BAD)
        if i % 7 == 3:
            good += " "                                                      # a trailing space in a choice
        label = rng.randrange(2)
        sols = [good, bad] if label == 0 else [bad, good]
        piqa.append({"goal": GOALS[k], "sol1": sols[0], "sol2": sols[1]})
        labels.append(label)
    files["piqa_valid.jsonl"] = piqa
    files["piqa_valid-labels.lst"] = labels
    hs = []
    for i in range(N_ITEMS):
        endings = rng.sample(ENDINGS, 4)
        hs.append({"ind": i, "activity_label": rng.choice(ACTIVITIES), "ctx_a": rng.choice(CTX_A),
                   "ctx_b": rng.choice(CTX_B), "split": "val", "split_type": "indomain",
                   "label": rng.randrange(4) if i % 2 else str(rng.randrange(4)), "endings": endings,
                   "source_id": f"golden-{i}"})
    files["hellaswag_val.jsonl"] = hs
    for name in ("ARC-Easy-Test.jsonl", "ARC-Challenge-Test.jsonl"):
        arc = []
        for i in range(N_ITEMS):
            n = 3 + (i % 3 == 0) + (i % 5 == 0)                              # 3, 4 or 5 choices
            texts = rng.sample(ANSWERS, n)
            labels_ = [str(j + 1) for j in range(n)] if i % 4 == 1 else [chr(ord("A") + j) for j in range(n)]
            arc.append({"id": f"G_{i}", "question": {"stem": rng.choice(QUESTIONS),
                        "choices": [{"text": t, "label": l} for t, l in zip(texts, labels_)]},
                        "answerKey": rng.choice(labels_)})
        files[name] = arc
    sciq = []
    for i in range(N_ITEMS):
        words = rng.sample(SCI_WORDS, 4)
        sciq.append({"question": rng.choice(SCI_Q), "distractor3": words[2], "distractor1": words[0],
                     "distractor2": words[1], "correct_answer": words[3], "support": rng.choice(SUPPORTS)})
    files["sciq_test.json"] = sciq
    wino = []
    for i in range(N_ITEMS):
        template, o1, o2 = rng.choice(WINO)
        if o1 is None:
            o1, o2 = rng.sample(NAMES, 2)
            template = template.format(a=o1, b=o2)
        wino.append({"qID": f"g-{i}", "sentence": template, "option1": o1, "option2": o2,
                     "answer": str(1 + rng.randrange(2))})
    files["winogrande_dev.jsonl"] = wino
    return files


def write_items(out):
    os.makedirs(out, exist_ok=True)
    for name, docs in _items(random.Random(ITEM_SEED)).items():
        with open(os.path.join(out, name), "w", encoding="utf-8") as f:
            if name.endswith(".lst"):
                f.write("".join(f"{x}\n" for x in docs))
            elif name.endswith(".json"):
                json.dump(docs, f, ensure_ascii=False, indent=1)
            else:
                f.write("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in docs))
    with open(os.path.join(out, "text.txt"), "w", encoding="utf-8") as f:
        f.write(TEXT)


# ---- prompts, as lm-evaluation-harness 0.4 builds them -------------------------------------------------

def _read(items, name):
    path = os.path.join(items, name)
    with open(path, encoding="utf-8") as f:
        if name.endswith(".json"):
            return json.load(f)
        return [json.loads(line) for line in f if line.strip()]


def _hs_pre(text):                     # lm_eval/tasks/hellaswag/utils.py preprocess
    text = text.strip().replace(" [title]", ". ")
    text = re.sub("\\[.*?\\]", "", text)
    return text.replace("  ", " ")


def _mc(ctx, choices, gold):
    """multiple_choice: (ctx, " " + choice) per choice; choices also normalize acc_norm."""
    return {"options": [[ctx, " " + c] for c in choices], "choices": choices, "gold": gold}


def prompts(items):
    """task -> list of {options: [[context, continuation]], choices, gold}."""
    tasks = {}
    tasks["lambada"] = [{"options": [[" ".join(d["text"].split(" ")[:-1]), " " + d["text"].split(" ")[-1]]],
                         "choices": [" " + d["text"].split(" ")[-1]], "gold": 0}
                        for d in _read(items, "lambada_test.jsonl")]
    with open(os.path.join(items, "piqa_valid-labels.lst")) as f:
        labels = [int(x) for x in f.read().split()]
    tasks["piqa"] = [_mc(f"Question: {d['goal']}\nAnswer:", [d["sol1"], d["sol2"]], labels[i])
                     for i, d in enumerate(_read(items, "piqa_valid.jsonl"))]
    tasks["hellaswag"] = [_mc(_hs_pre(d["activity_label"] + ": " + d["ctx_a"] + " " + d["ctx_b"].capitalize()),
                              [_hs_pre(e) for e in d["endings"]], int(d["label"]))
                          for d in _read(items, "hellaswag_val.jsonl")]
    for task, name in (("arc_easy", "ARC-Easy-Test.jsonl"), ("arc_challenge", "ARC-Challenge-Test.jsonl")):
        tasks[task] = [_mc(f"Question: {d['question']['stem']}\nAnswer:", [c["text"] for c in d["question"]["choices"]],
                           [c["label"] for c in d["question"]["choices"]].index(d["answerKey"]))
                       for d in _read(items, name)]
    tasks["sciq"] = [_mc(f"{d['support'].lstrip()}\nQuestion: {d['question']}\nAnswer:",
                         [d["distractor1"], d["distractor2"], d["distractor3"], d["correct_answer"]], 3)
                     for d in _read(items, "sciq_test.json")]
    wino = []
    for d in _read(items, "winogrande_dev.jsonl"):
        cut = d["sentence"].index("_")
        ctxs = [d["sentence"][:cut] + o for o in (d["option1"], d["option2"])]
        cont = " " + d["sentence"][cut + 1:].strip()
        wino.append({"options": [[c, cont] for c in ctxs], "choices": ctxs, "gold": {"1": 0, "2": 1}[d["answer"]]})
    tasks["winogrande"] = wino
    return tasks


# ---- tokens and scoring --------------------------------------------------------------------------------

def encode(text, vocab):
    return [b % vocab for b in text.encode("utf-8")]


def encode_pair(ctx, cont, vocab):
    """TemplateLM.loglikelihood + _encode_pair: empty context -> [eot]; trailing context whitespace moves."""
    if ctx == "":
        return [vocab - 1], encode(cont, vocab)
    n = len(ctx) - len(ctx.rstrip())
    if n > 0:
        ctx, cont = ctx[:-n], ctx[-n:] + cont
    if ctx == "":
        return [vocab - 1], encode(cont, vocab)
    whole, c = encode(ctx + cont, vocab), encode(ctx, vocab)
    return c, whole[len(c):]


def score(model, ctx_ids, cont_ids, window):
    """HFLM._loglikelihood_tokens: inputs (ctx+cont)[-(window+1):][:-1], read the last len(cont) rows."""
    import torch
    whole = ctx_ids + cont_ids
    inp = whole[-(window + 1):][:-1]
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([inp])).logits[0].double()
    logp = torch.log_softmax(logits[-len(cont_ids):], dim=-1)
    target = torch.tensor(cont_ids)
    ll = logp.gather(1, target[:, None]).sum().item()
    top2 = torch.topk(logits[-len(cont_ids):], 2, dim=-1).values
    greedy = bool((logp.argmax(dim=-1) == target).all())
    margin = (top2[:, 0] - top2[:, 1]).min().item()     # how far from a tie the greedy check is
    return ll, greedy, margin


def mean_stderr(xs):
    n = len(xs)
    m = sum(xs) / n
    return m, (math.sqrt(sum((x - m) ** 2 for x in xs) / (n - 1)) / math.sqrt(n)) if n > 1 else None


def argmax(xs):
    return max(range(len(xs)), key=lambda i: (xs[i], -i))


def windows(n_tokens, context, stride):
    """Targets 1..n of [eot] + tokens; window i ends at min(context + i*stride, n), starts context before."""
    out, scored, i = [], 0, 0
    while scored < n_tokens:
        end = min(context + i * stride, n_tokens)
        begin = max(0, end - context)
        out.append((begin, scored, end))
        scored, i = end, i + 1
    return out


def load_model(path, out):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM
    if os.path.isfile(os.path.join(path, "model.safetensors")) and os.path.isfile(os.path.join(path, "config.json")):
        model = LlamaForCausalLM.from_pretrained(path, attn_implementation="eager")
        return model.float().eval(), path
    torch.manual_seed(MODEL_SEED)
    config = LlamaConfig(vocab_size=96, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=64,
                         rms_norm_eps=1e-5, rope_theta=10000.0, tie_word_embeddings=False)
    model = LlamaForCausalLM(config).float().eval()
    model.save_pretrained(out, safe_serialization=True)
    return model, "generated (seed %d), saved beside the results" % MODEL_SEED


def run_score(items, model_dir, out):
    import torch
    torch.set_num_threads(4)
    os.makedirs(out, exist_ok=True)
    model, source = load_model(model_dir, out)
    vocab, window = model.config.vocab_size, model.config.max_position_embeddings
    result = {"model": source, "vocab": vocab, "window": window, "tokenizer": "bytes % vocab, eot = vocab - 1",
              "torch": torch.__version__, "tasks": {}}
    for task, docs in prompts(items).items():
        scored = []
        acc, acc_norm, lls_gold, greedy_all = [], [], [], []
        for d in docs:
            opts = []
            for ctx, cont in d["options"]:
                c, k = encode_pair(ctx, cont, vocab)
                ll, greedy, margin = score(model, c, k, window)
                opts.append({"context": ctx, "continuation": cont, "ll": ll, "greedy": greedy, "margin": margin})
            lls = [o["ll"] for o in opts]
            norm = [ll / len(ch) for ll, ch in zip(lls, d["choices"])]
            acc.append(1.0 if argmax(lls) == d["gold"] else 0.0)
            acc_norm.append(1.0 if argmax(norm) == d["gold"] else 0.0)
            lls_gold.append(lls[d["gold"]])
            greedy_all.append(1.0 if all(o["greedy"] for o in opts) else 0.0)
            scored.append({"gold": d["gold"], "options": opts})
        if task == "lambada":
            m, se = mean_stderr(greedy_all)
            metrics = {"acc": m, "acc_stderr": se, "perplexity": math.exp(-sum(lls_gold) / len(lls_gold))}
        else:
            m, se = mean_stderr(acc)
            metrics = {"acc": m, "acc_stderr": se}
            if task != "winogrande":
                mn, sen = mean_stderr(acc_norm)
                metrics.update({"acc_norm": mn, "acc_norm_stderr": sen})
        result["tasks"][task] = {"items": scored, "metrics": metrics}
    with open(os.path.join(items, "text.txt"), encoding="utf-8") as f:
        text = f.read()
    toks = [vocab - 1] + encode(text, vocab)
    per_window = []
    for begin, scored, end in windows(len(toks) - 1, PPL_CONTEXT, PPL_STRIDE):
        ll, _, _ = score(model, toks[begin:scored + 1], toks[scored + 1:end + 1], window)
        per_window.append(-ll)
    result["perplexity"] = {"file": "text.txt", "context": PPL_CONTEXT, "stride": PPL_STRIDE,
                            "tokens": len(toks) - 1, "bytes": len(text.encode("utf-8")),
                            "window_nll": per_window, "nll": sum(per_window)}
    with open(os.path.join(out, "eval_golden.json"), "w", encoding="utf-8") as f:
        json.dump(result, f, ensure_ascii=False, indent=1)
    print("wrote", os.path.join(out, "eval_golden.json"), "model:", source,
          {t: v["metrics"] for t, v in result["tasks"].items()}, "ppl nll", result["perplexity"]["nll"])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("items")
    a.add_argument("--out", required=True)
    b = sub.add_parser("score")
    b.add_argument("--items", required=True)
    b.add_argument("--model", required=True)
    b.add_argument("--out", required=True)
    args = ap.parse_args()
    if args.cmd == "items":
        write_items(args.out)
    else:
        run_score(args.items, args.model, args.out)


if __name__ == "__main__":
    main()
