"""The house measures of `benchmarks/house.py` stay at their targets: short export cells, one definition each, lines that fit,
short functions with few positional parameters, one-sentence openings, two-line page setups, imports only downward."""
import importlib.util
from pathlib import Path
import pytest

spec = importlib.util.spec_from_file_location('house', Path(__file__).parents[1]/'benchmarks'/'house.py')
house = importlib.util.module_from_spec(spec); spec.loader.exec_module(house)
MEASURES = house.measures()

@pytest.mark.parametrize('name', sorted(house.TARGETS))
def test_house_measure_at_target(name):
    assert MEASURES[name] <= house.TARGETS[name], (name, MEASURES[name], house.TARGETS[name])

def test_no_upward_imports():
    assert house.upward_imports() == []

def test_every_method_has_its_own_colour_with_the_ssl_comparison_on():
    from dr_study.params import load_params
    from dr_study.models import method_colors
    methods = load_params('tiny', ['ssl=[simclr, byol, dino]'])['methods']
    colours = method_colors(methods)
    assert len(methods) == 10 and len(set(colours.values())) == len(methods), colours
