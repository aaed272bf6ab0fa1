"""Run a model with PySD, the reference implementation, and compare with ours."""

import hashlib
import re
import shutil
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from sim.engine.errors import ModelError, UnsupportedFunctionError
from sim.engine.names import python_name, vensim_key
from sim.engine.spec import (
    FUNCTIONS,
    Call,
    Element,
    Lookup,
    LookupCall,
    ModelSpec,
    Num,
    Op,
    Ref,
    Stateful,
)
from sim.engine.vensim import check_names, mark_flows

# PySD's own bookkeeping columns, not model variables.
KEPT = Path(__file__).parent / "data" / "pysd"
PYSD_ONLY = {"INITIAL TIME", "FINAL TIME", "TIME STEP", "SAVEPER", "Time", "TIME"}


def pysd_run(mdl: Path, tmp_path: Path, params: dict | None = None) -> pd.DataFrame:
    """PySD's run of a copy of ``mdl`` (PySD writes a .py beside the file it reads)."""
    import pysd

    copy = tmp_path / mdl.name
    shutil.copy(mdl, copy)
    for name in _data_files(mdl):
        shutil.copy(mdl.parent / name, tmp_path / name)
    with warnings.catch_warnings():
        # PySD warns on lookups held outside their x range, as Vensim does
        warnings.simplefilter("ignore")
        model = pysd.read_vensim(str(copy))
        return model.run(params=params or {})


def _data_files(mdl: Path) -> set:
    """The files GET XLS/DIRECT read, beside the model."""
    names = set(re.findall(r"'([^'/]+\.(?:xlsx|csv|tab|txt))'", mdl.read_text()))
    return {name for name in names if (mdl.parent / name).is_file()}


def pysd_run_kept(mdl: Path, tmp_path: Path) -> pd.DataFrame:
    """PySD's run of ``mdl`` at its defaults, kept in ``tests/data/pysd`` by input hash.

    PySD takes over a minute on the brain model. Its result depends only on
    the model's bytes and PySD's version, which name the kept file, so it is
    run again whenever either changes (and the new file replaces the old).
    """
    import pysd

    digest = hashlib.sha256(mdl.read_bytes() + pysd.__version__.encode())
    for name in sorted(_data_files(mdl)):  # the files GET XLS/DIRECT read are part of it
        digest.update((mdl.parent / name).read_bytes())
    digest = digest.hexdigest()[:16]
    kept = KEPT / f"{mdl.stem}-{digest}.csv.gz"
    if kept.is_file():
        return pd.read_csv(kept, index_col=0)
    ref = pysd_run(mdl, tmp_path)
    KEPT.mkdir(exist_ok=True)
    for old in KEPT.glob(f"{mdl.stem}-*.csv.gz"):
        old.unlink()
    part = tmp_path / kept.name
    ref.to_csv(part)  # repr of each float: read back to the bit
    shutil.move(part, kept)
    return ref


def compare(ours, ref: pd.DataFrame, rtol=1e-9, atol=1e-12) -> list:
    """Return every variable that differs, with its worst relative error.

    Every PySD column must be one of ours and every one of ours a PySD
    column: nothing is skipped silently.
    """
    problems = []
    series = dict(flat_series(ours))
    names = {name: name for name in series}
    ref_cols = [c for c in ref.columns if c not in PYSD_ONLY]
    missing = sorted(set(ref_cols) - set(names))
    extra = sorted(set(names) - set(ref_cols))
    if missing:
        problems.append(f"not in our output: {missing}")
    if extra:
        problems.append(f"not in PySD's output: {extra}")
    if not np.allclose(ref.index.values, ours["time"].values, rtol=0, atol=1e-9):
        problems.append("time grids differ")
        return problems
    for name in ref_cols:
        if name not in names:
            continue
        a = series[name]
        b = ref[name].values.astype(float)
        if not np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=False):
            err = np.max(np.abs(a - b) / np.maximum(np.abs(b), atol))
            problems.append(f"{name}: max relative error {err:.3g}")
    return problems


def flat_series(ds):
    """Yield ``(Vensim name, values of run 0)``; a subscripted variable element by element.

    Elements an array leaves undefined (NaN in every saved time) are left out.
    """
    for var in ds.data_vars:
        da = ds[var].isel(run=0)
        name = da.attrs["vensim_name"]
        extra = [d for d in da.dims if d != "time"]
        if not extra:
            yield name, da.values
            continue
        stacked = da.stack(element=extra).transpose("element", "time")
        for labels, values in zip(stacked["element"].values, stacked.values, strict=True):
            labels = labels if isinstance(labels, tuple) else (labels,)
            if not np.all(np.isnan(values)):
                yield f"{name}[{','.join(map(str, labels))}]", values


# --- PySD's translator as the reference reader ---------------------------------
#
# sim.engine.vensim reads .mdl files itself (PySD's parser is too slow for a run that
# must take under a second). This is the reader it replaced: PySD's abstract
# model lowered into the same spec, so that tests can require both to agree.


def pysd_spec(path: Path) -> ModelSpec:
    """Read ``path`` through PySD's Vensim translator into a :class:`ModelSpec`."""
    path = Path(path)
    raw = path.read_bytes()
    abstract = _abstract_model(path, raw.decode("utf-8", errors="replace"))
    section = abstract.sections[0]
    builder = _Lowering(str(path), {vensim_key(el.name) for el in section.elements})
    elements = mark_flows([builder.element(el) for el in section.elements])
    check_names(str(path), elements, builder.statefuls, builder.lookups)
    return ModelSpec(
        path=str(path),
        sha256=hashlib.sha256(raw).hexdigest(),
        elements=tuple(elements),
        statefuls=tuple(builder.statefuls),
        lookups=tuple(builder.lookups),
    )


_OPS = {
    "+": "+",
    "-": "-",
    "*": "*",
    "/": "/",
    "^": "^",
    "negative": "neg",
    "=": "=",
    "<>": "<>",
    "<": "<",
    "<=": "<=",
    ">": ">",
    ">=": ">=",
    ":and:": "and",
    ":or:": "or",
    ":not:": "not",
}

# PySD structure names that have no implementation here, as Vensim spells them.
_UNSUPPORTED_STRUCTURES = {
    "DelayFixedStructure": "DELAY FIXED",
    "ForecastStructure": "FORECAST",
    "SampleIfTrueStructure": "SAMPLE IF TRUE",
    "GameStructure": "GAME",
    "AllocateAvailableStructure": "ALLOCATE AVAILABLE",
    "AllocateByPriorityStructure": "ALLOCATE BY PRIORITY",
    "GetLookupsStructure": "GET XLS/DIRECT LOOKUPS",
    "GetDataStructure": "GET XLS/DIRECT DATA",
    "GetConstantsStructure": "GET XLS/DIRECT CONSTANTS",
    "DataStructure": "a data variable",
    "SubscriptsReferenceStructure": "subscripts",
}


def _abstract_model(path: Path, text: str):
    """Run PySD's Vensim translator up to its abstract model."""
    with warnings.catch_warnings():
        # PySD warns when the file lacks an encoding line (UTF-8 is assumed)
        # and its dependencies warn of their own deprecations on import.
        warnings.simplefilter("ignore")
        from pysd.translators.vensim.vensim_file import VensimFile

        try:
            vf = VensimFile(path)
            vf.parse()
            return vf.get_abstract_model()
        except ModelError:
            raise
        except Exception as err:  # the translator raises many kinds
            raise ModelError(_syntax_message(path, text, err)) from None


def _syntax_message(path: Path, text: str, err: Exception) -> str:
    """Locate a translator error: the first equation that does not parse."""
    from pysd.translators.vensim.vensim_file import VensimFile

    detail = re.sub(r"\s+", " ", str(err)).strip()[:160]
    try:
        vf = VensimFile(path)
        vf.parse(parse_all=False)
        for section in vf.sections:
            section.parse(parse_all=False)
            for element in section.elements:
                try:
                    component = element.parse()
                    if hasattr(component, "parse"):
                        component.parse()
                except Exception as inner:
                    lhs = element.equation.split("=")[0].strip()
                    line = _line_of(text, lhs)
                    why = re.sub(r"\s+", " ", str(inner)).strip()[:160]
                    return (
                        f"{path}:{line}: Vensim syntax error in the equation of '{lhs}' "
                        f"({why}); fix the equation"
                    )
    except Exception:  # the file does not even split into equations
        pass
    return f"{path}: not a readable Vensim model ({detail}); check the file is a Vensim .mdl"


def _line_of(text: str, fragment: str) -> int:
    """Return the 1-based line where ``fragment`` starts, or 1."""
    at = text.find(fragment[:40])
    return text.count("\n", 0, at) + 1 if at >= 0 else 1


class _Lowering:
    """Turns PySD's abstract syntax into our expression tree, hoisting statefuls."""

    def __init__(self, path: str, defined: set):
        self.path = path
        self.defined = defined
        self.statefuls: list[Stateful] = []
        self.lookups: list[Lookup] = []
        self.owner = ""
        # PySD's SMOOTH(x, t) reuses the node x as its initial value; a stateful
        # met twice through such sharing is one state, not two.
        self.hoisted: dict = {}

    def element(self, el) -> Element:
        key = vensim_key(el.name)
        self.owner = el.name
        if len(el.components) != 1:
            raise ModelError(
                f"{self.path}: '{el.name}' has {len(el.components)} equations; "
                "subscripted models are not supported"
            )
        component = el.components[0]
        sub_defs = component.subscripts[0] if component.subscripts else []
        if sub_defs:
            raise ModelError(
                f"{self.path}: '{el.name}' is subscripted; subscripted models are not supported"
            )
        ctype = type(component).__name__
        ast = component.ast
        limits = tuple(el.limits[:2]) if el.limits else (None, None)
        limits = tuple(None if v is None else float(v) for v in limits) + (None,) * (
            2 - len(limits)
        )
        common = {
            "name": el.name,
            "key": key,
            "py_name": python_name(el.name),
            "units": el.units or "",
            "limits": limits[:2],
            "doc": re.sub(r"\s+", " ", el.documentation or "").strip(),
        }
        if ctype == "AbstractData":
            self._unsupported("a data variable")
        if type(el).__name__ == "AbstractControlElement":
            return Element(kind="control", expr=self.expr(ast), **common)
        if ctype == "AbstractLookup":
            self.lookups.append(self._table(key, ast))
            return Element(kind="lookup", expr=None, **common)
        name = type(ast).__name__
        if name == "IntegStructure":
            if getattr(ast, "non_negative", False):
                self._unsupported("non-negative INTEG")
            return Element(
                kind="stock", expr=self.expr(ast.flow), init=self.expr(ast.initial), **common
            )
        expr = self.expr(ast)
        if isinstance(expr, Call) and expr.fn == "active_initial":
            return Element(kind="auxiliary", expr=expr.args[0], init=expr.args[1], **common)
        kind = "constant" if isinstance(expr, Num) else "auxiliary"
        return Element(kind=kind, expr=expr, **common)

    def _unsupported(self, what: str):
        raise UnsupportedFunctionError(
            f"{self.path}: '{self.owner}' uses {what}, which brainsim does not support; "
            "rewrite it with the functions listed in DESIGN.md §3"
        )

    def _table(self, key: str, ast) -> Lookup:
        if type(ast).__name__ != "LookupsStructure":
            self._unsupported(
                _UNSUPPORTED_STRUCTURES.get(type(ast).__name__, "an external lookup")
            )
        if ast.type != "interpolate":
            self._unsupported(f"a '{ast.type}' lookup")
        xs = tuple(float(v) for v in ast.x)
        ys = tuple(float(v) for v in ast.y)
        if any(b < a for a, b in zip(xs, xs[1:], strict=False)):
            raise ModelError(
                f"{self.path}: lookup in '{self.owner}' has x values that decrease; "
                "list the points in increasing x"
            )
        return Lookup(key=key, xs=xs, ys=ys)

    def expr(self, ast):
        """Lower one abstract-syntax node."""
        if isinstance(ast, bool):
            return Num(float(ast))
        if isinstance(ast, int | float) or type(ast).__module__ == "numpy":
            return Num(float(ast))
        kind = type(ast).__name__
        if kind == "ReferenceStructure":
            if ast.subscripts:
                self._unsupported("subscripts")
            return Ref(vensim_key(ast.reference))
        if kind in ("ArithmeticStructure", "LogicStructure"):
            return self._operation(ast)
        if kind == "CallStructure":
            return self._call(ast)
        if kind == "InlineLookupsStructure":
            table = self._table(f"_lookup_{len(self.lookups) + 1}", ast.lookups)
            self.lookups.append(table)
            return LookupCall(table.key, self.expr(ast.argument))
        if kind == "LookupsStructure":
            self._unsupported("a lookup definition inside an equation")
        if kind == "IntegStructure":
            self._unsupported(
                "INTEG inside a larger expression (INTEG must be the whole equation)"
            )
        if id(ast) in self.hoisted:
            return self.hoisted[id(ast)]
        if kind in ("SmoothStructure", "SmoothNStructure"):
            function = "SMOOTH N" if kind == "SmoothNStructure" else "SMOOTH"
            return self.stateful(
                ast, "smooth", function, ast.input, ast.smooth_time, ast.initial, ast.order
            )
        if kind == "DelayStructure":
            return self.stateful(
                ast, "delay", "DELAY", ast.input, ast.delay_time, ast.initial, ast.order
            )
        if kind == "DelayNStructure":
            return self.stateful(
                ast, "delay_n", "DELAY N", ast.input, ast.delay_time, ast.initial, ast.order
            )
        if kind == "TrendStructure":
            return self.stateful(
                ast, "trend", "TREND", ast.input, ast.average_time, ast.initial_trend, 1
            )
        if kind == "InitialStructure":
            return self.stateful(ast, "initial", "INITIAL", ast.initial, None, ast.initial, 1)
        if kind == "SampleIfTrueStructure":
            return self.stateful(
                ast, "sample", "SAMPLE IF TRUE", ast.input, ast.condition, ast.initial, 1
            )
        if kind == "DelayFixedStructure":
            ref = self.stateful(
                ast, "delay_fixed", "DELAY FIXED", ast.input, ast.delay_time, ast.initial, 1
            )
            st = self.statefuls[-1]
            order = Op("/", (st.time, Ref("time_step")))
            self.statefuls[-1] = Stateful(**{**st.__dict__, "order": order})
            return ref
        if kind == "ForecastStructure":
            # a first-order average, then input * (1 + ZIDZ(input - avg, time * avg) * horizon)
            avg = self.stateful(
                ast, "smooth", "FORECAST", ast.input, ast.average_time, ast.input, 1
            )
            st = self.statefuls[-1]
            trend = Call("zidz", (Op("-", (st.input, avg)), Op("*", (st.time, avg))))
            horizon = self.expr(ast.horizon)
            return Op("*", (st.input, Op("+", (Num(1.0), Op("*", (trend, horizon))))))
        self._unsupported(_UNSUPPORTED_STRUCTURES.get(kind, kind))
        return None  # unreachable: _unsupported raises

    def _operation(self, ast):
        ops = [_OPS[o.lower()] for o in ast.operators]
        args = [self.expr(a) for a in ast.arguments]
        if len(args) == 1:
            return Op(ops[0], (args[0],))
        # PySD writes + - * / chains as Python text (left to right) and ^ as
        # Python's right-associative **; :AND:/:OR: it nests from the right.
        if ops[0] in ("^", "and", "or"):
            result = args[-1]
            for op, arg in zip(reversed(ops), reversed(args[:-1]), strict=True):
                result = Op(op, (arg, result))
            return result
        result = args[0]
        for op, arg in zip(ops, args[1:], strict=True):
            result = Op(op, (result, arg))
        return result

    def _call(self, ast):
        fn = vensim_key(ast.function.reference)
        args = tuple(self.expr(a) for a in ast.arguments)
        if fn in self.defined:
            if len(args) != 1:
                raise ModelError(
                    f"{self.path}: '{self.owner}' calls lookup '{fn}' with {len(args)} "
                    "arguments; a lookup takes one"
                )
            return LookupCall(fn, args[0])
        if fn == "active_initial":
            return Call(fn, args)
        if fn == "get_time_value":
            start = Ref("time") if args[0] == Num(0.0) else Ref("initial_time")
            return Op("+", (start, args[1]))
        if fn not in FUNCTIONS:
            self._unsupported(f"the function {fn.replace('_', ' ').upper()}")
        if len(args) not in FUNCTIONS[fn]:
            raise ModelError(
                f"{self.path}: '{self.owner}' calls {fn.replace('_', ' ').upper()} with "
                f"{len(args)} arguments; it takes {' or '.join(map(str, FUNCTIONS[fn]))}"
            )
        return Call(fn, args)

    def _hoist(self, kind, function, inp, time, init, order):
        # lower the arguments first: a nested SMOOTH(SMOOTH(x, 1), 1) takes its key first
        args = {
            "input": self.expr(inp),
            "time": None if time is None else self.expr(time),
            "init": self.expr(init),
            "order": self.expr(order),
        }
        key = f"_{kind}_{len(self.statefuls) + 1}"
        self.statefuls.append(
            Stateful(key=key, kind=kind, owner=self.owner, function=function, **args)
        )
        return Ref(key)

    def stateful(self, ast, kind, function, inp, time, init, order):
        """Hoist a stateful node once, however often the abstract syntax shares it."""
        ref = self._hoist(kind, function, inp, time, init, order)
        self.hoisted[id(ast)] = ref
        return ref
