#!/usr/bin/env python3
"""Writes tests/cli/data/tiny: a small synthetic dataset in the format of data/beauty
(a sequence file `tiny.txt`, one user per line, and `items.tsv`), used by the CLI tests.

320 items in 16 leaf categories under 4 top-level categories, with a brand each; 300 users
whose sequences (6..14 items) mostly stay within one or two categories, so a model has
something to learn. Deterministic (fixed seed); rerun to regenerate."""
import os
import random

rng = random.Random(20250821)
here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "tiny")
os.makedirs(here, exist_ok=True)

roots = ["Garden", "Kitchen", "Office", "Travel"]
leaves = {
    "Garden": ["Seeds", "Hoses", "Planters", "Shears"],
    "Kitchen": ["Knives", "Kettles", "Pans", "Spices"],
    "Office": ["Pens", "Paper", "Staplers", "Lamps"],
    "Travel": ["Bags", "Pillows", "Adapters", "Maps"],
}
brands = ["Acme", "Borealis", "Cobalt", "Dune", "Ember", "Fjord", "Gale", "Harbor"]
words = ["red", "blue", "large", "small", "classic", "deluxe", "mini", "pro", "eco", "soft",
         "steel", "bamboo", "linen", "compact", "bright", "quiet"]

items = []  # (id, title, attribute ids, attribute names, leaf index)
attr_id = {}
def aid(name):
    if name not in attr_id:
        attr_id[name] = len(attr_id) + 1
    return attr_id[name]

leaf_list = [(r, l) for r in roots for l in leaves[r]]
n_items = 320
for i in range(1, n_items + 1):
    li = (i - 1) % len(leaf_list)
    root, leaf = leaf_list[li]
    brand = rng.choice(brands)
    title = f"{brand} {rng.choice(words)} {rng.choice(words)} {leaf.lower()[:-1]} {i}"
    names = [brand, root, leaf]
    items.append((i, title, [aid(n) for n in names], names, li))

by_leaf = {}
for it in items:
    by_leaf.setdefault(it[4], []).append(it[0])

with open(os.path.join(here, "items.tsv"), "w") as f:
    f.write("item_id\tasin\ttitle\tattribute_ids\tattributes\tidgenrec_text\n")
    for (i, title, ids, names, _) in items:
        f.write(f"{i}\tT{i:05d}\t{title}\t{','.join(map(str, ids))}\t{' | '.join(names)}\t{title.lower()}\n")

with open(os.path.join(here, "tiny.txt"), "w") as f:
    for u in range(1, 301):
        a = rng.randrange(len(leaf_list))
        b = (a + rng.choice([1, 4])) % len(leaf_list)
        n = rng.randint(6, 14)
        seq = []
        for _ in range(n):
            pool = by_leaf[a if rng.random() < 0.7 else b]
            x = rng.choice(pool)
            if seq and x == seq[-1]:
                x = rng.choice(pool)
            seq.append(x)
        f.write(f"{u} " + " ".join(map(str, seq)) + "\n")
