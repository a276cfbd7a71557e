"""A unit's code key covers what the unit runs, and no more: every `dr_study` function that executes while a tiny unit of each
kind is made lies inside that unit's key (the trace test), and edits re-key exactly the units that run the edited code (the
edit tests, on copies of the package, counted over the paper profile's units)."""
import json, shutil, sys, threading
from dataclasses import asdict
from pathlib import Path
import numpy as np, pandas as pd, pytest
import dr_study
from dr_study.core import code_reach, code_version, write_json
from dr_study.cache import CACHE_CODE, CachedFundus, CacheArray, build_cache
from dr_study.data import DATASETS, SkipLog, referable
from dr_study.preprocess import Prep
from dr_study.pretrain import PRETRAINERS, STARTING_POINTS, recipe_code, starting_points
from dr_study.robustness import CORRUPTION_CODE, CorruptedSets
from dr_study.synthetic import SynthConfig, synthetic_data
from dr_study.core import WorkUnit
from dr_study.train import FINETUNE_CODE, PREDICT_CODE, TrainConfig, finetune_job, prediction_task

PKG = Path(dr_study.__file__).parent
SYNTH_CODE = ('synthetic.synthetic_data',)  # what `synthetic_data` keys its unit with: make_synthetic, reached from it


class Executed:
    "The top-level `dr_study` definitions whose code runs inside the block, as 'module.name' (a method counts as its class)."
    def __enter__(self):
        self.names = set()
        def prof(frame, event, arg):
            if event == 'call' and frame.f_code.co_filename.startswith(str(PKG)):
                top = frame.f_code.co_qualname.split('.')[0]
                self.names.add(f"{Path(frame.f_code.co_filename).stem}.{'<top>' if top.startswith('<') else top}")
        sys.setprofile(prof); threading.setprofile(prof); return self
    def __exit__(self, *exc): sys.setprofile(None); threading.setprofile(None)


def pretrain_code(recipe:str|None) -> set:
    "The definitions in the key of a starting point made by `recipe`."
    roots, entries = recipe_code(recipe)
    return set(code_reach(roots, entries=entries))


def outside(executed:set, *roots) -> list:
    "The executed definitions that no key among `roots` (tuples of roots) covers."
    covered = set().union(*[set(code_reach(r)) for r in roots])
    return sorted(executed - covered)


@pytest.fixture(scope='module')
def traced(tmp_path_factory):
    "A tiny unit of each kind, made under the tracer: {kind: (executed definitions, run folder)}."
    tmp, out = tmp_path_factory.mktemp('units'), {}
    with Executed() as ex: lay = synthetic_data(tmp/'data', SynthConfig(eyepacs_train=12, eyepacs_test=2, messidor2=2, idrid_seg=2, idrid_grading=2, eyepacs_mix=(1, 1, 1, 1, 1)), seed=0, workers=0, progress=False)
    out['synthetic'] = ex.names
    df = DATASETS['eyepacs'].read(getattr(lay, DATASETS['eyepacs'].root).root, log=SkipLog())
    df = df[df.split == 'train'].reset_index(drop=True)
    with Executed() as ex: folder = build_cache(df, tmp/'cache', 'eyepacs', prep=Prep(32, 'graham'), workers=0, progress=False)
    out['cache'] = ex.names
    ds = CachedFundus(folder)
    run = tmp/'run'; (run/'checkpoints').mkdir(parents=True)
    write_json(run/'data.json', dict(caches=dict(eyepacs=str(folder)), training='eyepacs'))
    for name in ('moco_dr', 'supervised_external', 'simclr_dr', 'byol_dr', 'dino_dr'):
        with Executed() as ex:
            starting_points(run, epochs=1, batch_size=16, moco_bank=16, natural_images=8, device='cpu', only=name, log=lambda *a: None,
                            methods=('IWNE-FS', 'IWNE-CL', 'IFI-FS', 'IFI-CL', 'IWNE-SimCLR', 'IWNE-BYOL', 'IWNE-DINO'))
        out[f'pretrain:{name}'] = ex.names
    init = next((run/'checkpoints'/'pretrained').glob('moco_dr-*'))/'weights.safetensors'
    y = referable(ds.records.grade.astype(int), 'paper')
    val = np.r_[np.flatnonzero(y)[:2], np.flatnonzero(~y)[:2]]
    tr = np.setdiff1d(np.arange(len(ds)), val)
    cfg = asdict(TrainConfig(arch='resnet18', epochs=1, batch_size=4, device='cpu', workers=0))
    with Executed() as ex: unit = finetune_job(str(folder), tr.tolist(), val.tolist(), cfg=cfg, parent=str(tmp/'runs'), prefix='IWNE-CL-f1.0-s0', init_file=str(init), log=lambda *a: None)
    out['finetune'] = ex.names
    _, job = prediction_task(WorkUnit(unit), 'resnet18', ds, idx=val, name='eyepacs', parent=tmp/'predictions', device='cpu')
    with Executed() as ex: job.fn(**job.kwargs)  # what the unit's job runs, here or on a node
    out['predictions'] = ex.names
    with Executed() as ex: CorruptedSets(tmp/'corrupted', CacheArray(ds, np.arange(3)), seed=0, names=['gaussian_noise', 'motion_blur'], severities=[1, 5], workers=0).build()
    out['corrupted'] = ex.names
    return out


def test_every_function_a_unit_runs_is_in_its_key(traced):
    assert len(traced['finetune']) > 20 and 'train.finetune' in traced['finetune']  # the tracer sees the package
    assert outside(traced['synthetic'], SYNTH_CODE) == []
    assert outside(traced['cache'], CACHE_CODE) == []
    assert outside(traced['finetune'], FINETUNE_CODE, CACHE_CODE) == []  # the data set's code is in its key, which the unit's key holds
    assert outside(traced['corrupted'], CORRUPTION_CODE, CACHE_CODE) == []
    assert outside(traced['predictions'], PREDICT_CODE, CACHE_CODE) == []
    for name in ('moco_dr', 'supervised_external', 'simclr_dr', 'byol_dr', 'dino_dr'):
        ran, key = traced[f'pretrain:{name}'], pretrain_code(STARTING_POINTS[name]['recipe'])
        assert sorted(ran - key - set(code_reach(CACHE_CODE))) == [], name
        others = {f'pretrain.{f.__name__}' for r, f in PRETRAINERS.items() if r != STARTING_POINTS[name]['recipe']}
        assert not key & others, name  # and its key holds no other recipe


def test_the_tracer_catches_what_a_key_misses(traced):
    "The check can fail: a key from `finetune` alone misses the job that calls it; the corrupted sets' own key misses the reader of their images."
    assert 'train.finetune_job' in outside(traced['finetune'], ('train.finetune',))
    assert 'cache.CacheArray' in outside(traced['corrupted'], CORRUPTION_CODE)  # covered by the source's key, which names the folder


def _edited(tmp_path, module:str, old:str, new:str) -> Path:
    "A copy of the package with one replacement in `module`."
    pkg = tmp_path/'dr_study'
    shutil.copytree(PKG, pkg, ignore=shutil.ignore_patterns('__pycache__'))
    src = (pkg/f'{module}.py').read_text()
    assert src.count(old) == 1, (module, old)
    (pkg/f'{module}.py').write_text(src.replace(old, new))
    return pkg


def _body_line(module:str, func:str) -> str:
    ("The first line of the body of `func` after its docstring that occurs once in its module (what an edit prepends a "
     "statement to).")
    import ast, inspect, importlib
    mod = importlib.import_module(f'dr_study.{module}'); f = getattr(mod, func); text = inspect.getsource(mod)
    lines, _ = inspect.getsourcelines(f)
    body = ast.parse(inspect.getsource(f)).body[0].body
    body = body[1:] if isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) else body
    return next(lines[b.lineno - 1] for b in body if text.count(lines[b.lineno - 1]) == 1)


KINDS = dict(synthetic=SYNTH_CODE, cache=CACHE_CODE, finetune=FINETUNE_CODE, predictions=PREDICT_CODE, corrupted=CORRUPTION_CODE)


def _rekeyed(pkg) -> dict:
    "Which unit kinds' code keys differ between this package and the copy `pkg`."
    out = {k: code_version(*r) != code_version(*r, pkg=pkg) for k, r in KINDS.items()}
    for name, sp in STARTING_POINTS.items():
        roots, entries = recipe_code(sp['recipe'])
        out[f'pretrain:{name}'] = code_version(*roots, entries=entries) != code_version(*roots, pkg=pkg, entries=entries)
    return out


def _paper_units() -> int:
    "How many fine-tuning units the paper profile makes (methods x label fractions x seeds)."
    from dr_study.params import load_params
    p = load_params('paper')
    return len(p['methods']) * len(p['fractions']) * len(p['seeds'])


def test_a_chart_edit_rekeys_no_training_unit(tmp_path):
    line = _body_line('evaluate', 'figure2')
    pkg = _edited(tmp_path, 'evaluate', line, line.replace(line.strip(), 'width = 400') + line)
    assert code_version('evaluate.figure2', pkg=pkg) != code_version('evaluate.figure2')  # the edit is an edit of the code
    r = _rekeyed(pkg)
    assert not any(r.values()), r
    n = _paper_units()
    print(f'edit of evaluate.figure2: 0 of {n} paper-profile fine-tuning units re-keyed, 0 of {len(STARTING_POINTS)} starting points')


def test_an_edit_of_what_finetune_calls_rekeys_every_finetuning_unit(tmp_path):
    line = _body_line('train', 'augment')
    pkg = _edited(tmp_path, 'train', line, line.replace(line.strip(), 'g = g') + line)
    r = _rekeyed(pkg)
    assert r['finetune'] and not r['cache'] and not r['synthetic'] and not r['corrupted'] and not r['predictions'], r
    print(f'edit of train.augment (called by finetune): all {_paper_units()} paper-profile fine-tuning units re-keyed')


def test_one_recipe_edit_rekeys_its_starting_points_only(tmp_path):
    line = _body_line('pretrain', 'pretrain_byol')
    pkg = _edited(tmp_path, 'pretrain', line, line.replace(line.strip(), 'seed = seed') + line)
    r = _rekeyed(pkg)
    assert {k for k, v in r.items() if v} == {'pretrain:byol_dr', 'pretrain:byol_external'}, r


def test_a_dead_definition_rekeys_nothing(tmp_path):
    pkg = tmp_path/'dr_study'
    shutil.copytree(PKG, pkg, ignore=shutil.ignore_patterns('__pycache__'))
    with open(pkg/'dispatch.py', 'a') as f: f.write('\ndef _never_called(): return 1\n')
    assert not any(_rekeyed(pkg).values())
