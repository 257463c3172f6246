"""The command line of ``python -m bpnet``, in parts.

``parsing`` builds the parser; ``reading``, ``columns`` and ``loading`` turn a built-in
dataset or a file into the data and its target; ``running`` fits and times the contenders
(with ``timing`` and ``environment``); ``reporting`` and ``plotting`` show the results.
"""

from .common import CompareError
from .parsing import build_parser
from .reporting import format_json, format_report
from .running import compare


def main(argv=None):
    """Run ``python -m bpnet`` with the arguments ``argv`` (the process's by default).

    Returns the exit status: 0 after a comparison or ``--version``, 2 without a command.
    Usage errors exit through argparse, with status 2 and one line on stderr.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version:
        from bpnet import __version__

        print(__version__)
        return 0
    if args.command is None:
        parser.print_help()
        return 2
    if args.data is not None and args.target is None:
        args.parser.error("--data needs --target COLUMN, the column to predict")
    if args.data is None and args.target is not None:
        args.parser.error("--target needs --data FILE (the built-in datasets know their target)")
    try:
        result = compare(args)
    except CompareError as exc:
        args.parser.error(str(exc))
    print(format_json(result) if args.json else format_report(result))
    return 0
