"""The house measures of issue 23, re-counted from the notebooks and the exported library.

    python benchmarks/house.py          # prints every measure beside its target; exit 1 where one is missed

Export cells: the `#| export` cells of `nbs/*.ipynb`; definitions: top-level `def` / `class` statements in them. Lines: the
exported modules (`_modidx.py` apart). Study-page setup: the lines of each study page's first code cell after its parameters
cell (the preamble a reader re-running the page runs first).
"""
import ast, json, re, statistics, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYERS = {'base': ['paths', 'core', 'report', 'dispatch'], 'data': ['data', 'preprocess', 'cache', 'synthetic', 'prepare'],
          'models': ['models', 'pretrain', 'train'],
          'analyses': ['evaluate', 'calibration', 'fundus', 'faithfulness', 'spectra', 'robustness', 'explain', 'claims']}  # the machinery apart: params, pipeline, site, plan, pages, cli

def _cells(path):
    nb = json.loads(path.read_text())
    for c in nb['cells']:
        s = ''.join(c['source']) if isinstance(c['source'], list) else c['source']
        yield c['cell_type'], s, c.get('metadata', {}).get('tags', [])

def export_cells():
    "Source of every export cell of the library's notebooks."
    out = []
    for p in sorted((ROOT/'nbs').glob('[0-9]*.ipynb')):
        for kind, s, _ in _cells(p):
            if kind == 'code' and re.match(r'\s*#\|\s*export', s): out.append((p.name, s))
    return out

def definitions(src):
    body = '\n'.join(l for l in src.splitlines() if not l.lstrip().startswith('#|'))
    return sum(isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) for n in ast.parse(body).body)

def functions():
    "(module, name, lines, positional parameters) of every function and method of the library."
    out = []
    for p in sorted((ROOT/'dr_study').glob('*.py')):
        if p.name == '_modidx.py': continue
        for n in ast.walk(ast.parse(p.read_text())):
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)):
                pos = [a.arg for a in n.args.posonlyargs + n.args.args if a.arg not in ('self', 'cls')]
                out.append((p.stem, n.name, n.end_lineno - n.lineno + 1, len(pos)))
    return out

def wide_lines(limit=120):
    lines = [l for p in sorted((ROOT/'dr_study').glob('*.py')) if p.name != '_modidx.py' for l in p.read_text().splitlines()]
    return sum(len(l) > limit for l in lines), len(lines), max(map(len, lines))

def head_words():
    out = {}
    for p in sorted((ROOT/'nbs').glob('[0-9]*.ipynb')):
        for kind, s, _ in _cells(p):
            if kind == 'markdown':
                m = re.search(r'^>\s*(.+)$', s, re.M)
                out[p.name] = len(m.group(1).split()) if m else 0
                break
    return out

def page_setup():
    "Setup lines of each study page: its first code cell after the parameters cell (the preamble), comments apart."
    out = {}
    for p in sorted((ROOT/'dr_study'/'study').glob('*.ipynb')):
        cells = list(_cells(p))
        k = next(i for i, (_, _, tags) in enumerate(cells) if 'parameters' in tags)
        s = next(s for kind, s, _ in cells[k + 1:] if kind == 'code')
        out[p.name] = sum(1 for l in s.splitlines() if l.strip() and not l.strip().startswith('#'))
    return out

def upward_imports():
    "Imports from a module of a higher layer (base < data < models < analyses), as (module, imported)."
    layer = {m: i for i, ms in enumerate(LAYERS.values()) for m in ms}
    bad = []
    for p in sorted((ROOT/'dr_study').glob('*.py')):
        if p.stem not in layer: continue
        for m in re.findall(r'^\s*from \.(\w+) import|^\s*from dr_study\.(\w+) import', p.read_text(), re.M):
            m = m[0] or m[1]
            if m in layer and layer[m] > layer[p.stem]: bad.append((p.stem, m))
    return bad

def measures():
    cells = export_cells()
    n_lines = [len(s.splitlines()) for _, s in cells]
    defs = [definitions(s) for _, s in cells]
    fns = functions(); wide, total, widest = wide_lines(); setup = page_setup()
    return {'export cells': len(cells), 'export cell lines, mean': statistics.mean(n_lines),
            'export cell lines, max': max(n_lines), 'definitions per export cell': sum(defs) / len(cells),
            'library lines over 120 characters, %': 100 * wide / total, 'widest line': widest,
            'longest function, lines': max(f[2] for f in fns), 'most positional parameters': max(f[3] for f in fns),
            'head summary words, max': max(head_words().values()), 'study page setup lines, max': max(setup.values()),
            'upward imports': len(upward_imports())}

TARGETS = {'export cell lines, mean': 15, 'export cell lines, max': 60, 'definitions per export cell': 1.3,
           'library lines over 120 characters, %': 3, 'longest function, lines': 60, 'most positional parameters': 10,
           'head summary words, max': 15, 'study page setup lines, max': 3, 'upward imports': 0}

if __name__ == '__main__':
    ok = True
    for k, v in measures().items():
        t = TARGETS.get(k); miss = t is not None and v > t; ok &= not miss
        print(f"{k:45s} {v:10.2f}" + (f"   target ≤ {t}" + ('   MISSED' if miss else '') if t is not None else ''))
    if '-v' in sys.argv:
        for f in sorted(functions(), key=lambda f: -f[2])[:15]: print('long', f)
        for f in sorted(functions(), key=lambda f: -f[3])[:15]: print('params', f)
        cells = export_cells()
        for nm, s in sorted(cells, key=lambda c: -len(c[1].splitlines()))[:15]: print('cell', nm, len(s.splitlines()), s.splitlines()[1][:80])
        print(head_words()); print(page_setup()); print(upward_imports())
    sys.exit(0 if ok else 1)
