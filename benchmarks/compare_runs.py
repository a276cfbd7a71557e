"""Are two runs' results the same? Every results table (`paths.RESULTS`) of run A against run B, compared exactly.

    python benchmarks/compare_runs.py RUN_A RUN_B     # e.g. the tiny profile before and after a refactor

Left out: the columns that name work units or say when and how fast something was made (`cache`, `unit`, `seconds`, `made`,
`reused`), and, inside file paths, the synthetic data's unit key (it holds the code's digest, which a refactor changes).
Exit status 1 if a table differs or exists in one run only.
"""
import re, sys
from pathlib import Path
import pandas as pd

VOLATILE = ['cache', 'unit', 'seconds', 'made', 'reused']
UNIT_KEY = r'(synthetic-\w+-seed\d+)-[0-9a-f]{12}'

def table(path:Path) -> pd.DataFrame:
    df = pd.read_csv(path, dtype=str, keep_default_na=False).drop(columns=VOLATILE, errors='ignore')
    return df.replace(UNIT_KEY, r'\1-KEY', regex=True)

def compare(a:Path, b:Path) -> list:
    "The problems: tables in one run only, and tables that differ."
    na, nb = ({p.name for p in (Path(r)/'results').glob('*.csv')} for r in (a, b))
    problems = [f'{n}: only in {a if n in na else b}' for n in sorted(na ^ nb)]
    for n in sorted(na & nb):
        try: pd.testing.assert_frame_equal(table(Path(a)/'results'/n), table(Path(b)/'results'/n), check_exact=True)
        except AssertionError as e: problems.append(f'{n}: {str(e).splitlines()[0]}')
    print(f'{len(na & nb)} tables in both runs, {len(problems)} problem(s)')
    return problems

if __name__ == '__main__':
    out = compare(Path(sys.argv[1]), Path(sys.argv[2]))
    print('\n'.join(out)); sys.exit(1 if out else 0)
