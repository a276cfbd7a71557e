"The study pages' parameters cells agree with the schema: a page run by hand reads what a pipeline run would give it."
import ast, json
from pathlib import Path
import pytest
from dr_study.params import SCHEMA
from dr_study.pipeline import PAGE_PARAMS

PAGES = sorted((Path(__file__).parents[1]/'dr_study'/'study').glob('*.ipynb'))

def parameters_cell(page:Path) -> dict:
    "{name: default} of the page's cell tagged `parameters`."
    cells = [c for c in json.loads(page.read_text())['cells'] if 'parameters' in c.get('metadata', {}).get('tags', [])]
    assert len(cells) == 1, f'{page.name}: {len(cells)} cells tagged parameters'
    tree = ast.parse(''.join(cells[0]['source']))
    return {t.id: ast.literal_eval(s.value) for s in tree.body if isinstance(s, ast.Assign) for t in s.targets}

@pytest.mark.parametrize('page', PAGES, ids=[p.name for p in PAGES])
def test_page_parameters_are_the_schema_defaults(page):
    params = parameters_cell(page)
    unknown = [k for k in params if k not in SCHEMA and k not in PAGE_PARAMS]
    assert not unknown, f'{page.name}: parameters in neither the schema nor the pipeline: {unknown}'
    differ = {k: (v, SCHEMA[k].default) for k, v in params.items() if k in SCHEMA and v != SCHEMA[k].default}
    assert not differ, f'{page.name}: page default vs SCHEMA default: {differ}'
    assert params.get('run_dir') == '.', f'{page.name}: run_dir must default to the page\'s own run folder'
