"""The code strings of an exported program, judged without running them.

A `.pt2` carries Python text that torch.export.load would evaluate: shape guards (exec'd when
the module is called) and sympy expressions (passed to sympify). Real exports write only shape
arithmetic in them, so each string is parsed with `ast` (parsing runs nothing) and accepted
only if every node belongs to that small grammar: guards read the input's sizes and compare
them; expressions are sympy constructors of shape symbols and numbers.
"""

import ast
import re

MAX_EXPRESSION_CHARS = 100_000


def is_guard(text) -> bool:
    """A shape guard as export writes it: L['x'].size()[3] arithmetic and comparisons."""
    return _parses_as(text, _is_guard)


def is_sympy_expression(text) -> bool:
    """A sympy expression of shape symbols: Symbol('s0', positive=True, integer=True), ..."""
    return _parses_as(text, _is_sympy)


def _parses_as(text, judge) -> bool:
    """True if `text` is a Python expression every node of which `judge` accepts."""
    if not isinstance(text, str) or len(text) > MAX_EXPRESSION_CHARS:
        return False
    try:
        return judge(ast.parse(text, mode="eval").body)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False


ARITHMETIC = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow)
UNARY = (ast.USub, ast.UAdd, ast.Not)
# torch.fx.experimental.symbolic_shapes prints these calls into guards.
GUARD_FUNCTIONS = {"max", "min", "abs", "math.floor", "math.ceil", "math.trunc"}
GUARD_FUNCTIONS |= {"torch.sym_max", "torch.sym_min", "torch.sym_int", "torch.sym_float"}
SHAPE_READS = {"size", "stride", "dim", "numel", "storage_offset"}


def _is_guard(node: ast.AST) -> bool:
    """L['x'].size()[3] arithmetic, comparisons and and/or/not: what export's guards are."""
    match node:
        case ast.Constant(value=value):
            return type(value) in (int, float, bool)
        case ast.BinOp(left=left, op=op, right=right):
            return isinstance(op, ARITHMETIC) and _is_guard(left) and _is_guard(right)
        case ast.UnaryOp(op=op, operand=operand):
            return isinstance(op, UNARY) and _is_guard(operand)
        case ast.BoolOp(values=values):
            return all(map(_is_guard, values))
        case ast.Compare(left=left, comparators=rest, ops=ops):
            plain = all(not isinstance(o, (ast.In, ast.NotIn, ast.Is, ast.IsNot)) for o in ops)
            return plain and _is_guard(left) and all(map(_is_guard, rest))
        case ast.Subscript(value=ast.Call() as call, slice=ast.Constant(value=int())):
            return _is_shape_read(call)
        case ast.Call(func=func, args=args, keywords=[]) if ast.unparse(func) in GUARD_FUNCTIONS:
            return all(map(_is_guard, args))
        case ast.Call() as call:
            return _is_shape_read(call)
    return False


def _is_shape_read(call: ast.Call) -> bool:
    """L['x'].size(), L['x'][0].stride(1), ...: a method of the input that returns a shape."""
    match call:
        case ast.Call(func=ast.Attribute(value=value, attr=attr), args=args, keywords=[]):
            ints = all(isinstance(a, ast.Constant) and type(a.value) is int for a in args)
            return attr in SHAPE_READS and ints and _is_input(value)
    return False


def _is_input(node: ast.AST) -> bool:
    """L['x'], L['x'][0], L['x']['k']: an input looked up by constant keys."""
    match node:
        case ast.Subscript(value=ast.Name(id="L"), slice=ast.Constant(value=str())):
            return True
        case ast.Subscript(value=value, slice=ast.Constant(value=str() | int())):
            return _is_input(value)
    return False


# Constructors seen in real expr_str (sympy's and torch.utils._sympy.functions').
SYMPY_CALLS = set(
    "Symbol Integer Rational Float Add Mul Pow Mod Max Min Abs Eq Ne Lt Le Gt Ge And Or Not "
    "FloorDiv ModularIndexing Where PythonMod CleanDiv CeilToInt FloorToInt CeilDiv LShift "
    "RShift PowByNatural FloatPow FloatTrueDiv IntTrueDiv IsNonOverlappingAndDenseIndicator "
    "TruncToFloat TruncToInt RoundToInt RoundDecimal ToFloat Identity".split()
)
SYMPY_NAMES = {"oo", "zoo", "nan", "int_oo", "true", "false"}
SYMPY_KEYWORDS = {"positive", "negative", "nonnegative", "nonpositive", "integer", "real"}
SYMPY_KEYWORDS |= {"finite", "precision"}
SHAPE_SYMBOL = re.compile(r"[a-z]+\d+\Z")  # s0, u3, ps1, zf2: the symbols export creates


def _is_sympy(node: ast.AST) -> bool:
    """Symbol('s0', positive=True, integer=True) nested in the constructors above."""
    match node:
        case ast.Constant(value=value):
            return type(value) in (int, float, bool)
        case ast.Name(id=name):
            return name in SYMPY_NAMES or SHAPE_SYMBOL.match(name) is not None
        case ast.BinOp(left=left, op=op, right=right):
            return isinstance(op, ARITHMETIC) and _is_sympy(left) and _is_sympy(right)
        case ast.UnaryOp(op=op, operand=operand):
            return isinstance(op, UNARY) and _is_sympy(operand)
        case ast.Call(func=ast.Name(id=func), args=args, keywords=keywords):
            if func not in SYMPY_CALLS:
                return False
            named = func in ("Symbol", "Float", "Integer") and args
            first = args[0] if named and isinstance(args[0], ast.Constant) else None
            rest = args[1:] if first is not None and _is_name_or_number(first.value) else args
            return all(map(_is_sympy, rest)) and all(
                k.arg in SYMPY_KEYWORDS
                and isinstance(k.value, ast.Constant)
                and type(k.value.value) in (bool, int)
                for k in keywords
            )
    return False


def _is_name_or_number(value) -> bool:
    return isinstance(value, str) and re.fullmatch(r"[\w.+-]{1,64}", value) is not None
