#!/usr/bin/python3
"""deps_check.py - does scripts/install-deps.sh install every program and
Python module the tests use?

Reads the shell the tests run (tests/*.bats, tests/*.bash, tests/run.sh,
tests/ref/*.sh, pipelines/*.sh, the sh blocks of docs/*.md), finds the words
in command position, and the Python the tests run (tests/ref/*.py, inline
`python -c '...'` and heredoc code, the python blocks of docs/*.md) for its
imports.  Each external command or module is located on this machine
(command -v, import) and mapped to its Debian package with dpkg -S; that
package must be named in install-deps.sh's list, or be Essential or of
priority required (on every Debian system).  Shell builtins and keywords,
functions defined in the scanned files or by bats and its libraries, the
project's own programs and scripts, and Python's standard library are left
out.

Usage: deps_check.py [--install-deps FILE] [--list] ROOT
Commands are looked up in /usr/sbin:/usr/bin:/sbin:/bin.
Prints one line per problem ("deps: WHAT (FILE:LINE): why") and exits 1
when there is one; --list also prints "WHAT\tPACKAGE\tHOW" for every
dependency found.  Needs bash, dpkg and the packages in question installed.
"""
import glob
import os
import re
import subprocess
import sys

# Words after which the next word is again in command position.
PREFIX = {"run", "run_split", "exec", "command", "env", "nice", "nohup",
          "sudo", "time", "builtin", "!", "then", "do", "else", "elif",
          "if", "while", "until", "{", "}"}
# Those of them that are programs, not shell words.
EXTERNAL_PREFIX = {"env", "nice", "nohup", "sudo"}
# Prefixes that take an argument first: timeout DURATION CMD.
PREFIX_ARG = {"timeout": 1}
RESERVED = {"for", "select", "case", "in", "esac", "fi", "done", "function",
            "[[", "]]", "((", "))"}


class Extract:
    """Command words of shell text, with the Python code found in it."""

    def __init__(self):
        self.cmds = []     # (word, where)
        self.python = []   # (code, where)
        self.funcs = set()
        self.where = "?"

    def shell(self, text, where, line0=1):
        self.where = where
        toks, _, _ = self.scan(text, 0, line0)
        self.commands(toks)

    # -- tokens: ("word", text, line, quoted) and ("op", op, line) -----------
    def scan(self, s, j, ln, closer=None):
        n = len(s)
        toks, heredocs = [], []
        word, parts, wl = "", [], ln
        depth = 0

        def flush():
            nonlocal word, parts
            if word or parts:
                toks.append(("word", word, wl, tuple(parts)))
            word, parts = "", []

        def sub(j, ln, closer):
            t, j, ln = self.scan(s, j, ln, closer)
            self.commands(t)
            return j, ln

        while j < n:
            c = s[j]
            if not word and not parts:
                wl = ln
            if c == "\n":
                flush()
                toks.append(("op", "\n", ln))
                j += 1
                ln += 1
                for tag, strip, is_py in heredocs:
                    body = []
                    while j < n:
                        k = s.find("\n", j)
                        k = n if k < 0 else k
                        line = s[j:k]
                        j = k + 1
                        ln += 1
                        if (line.lstrip("\t") if strip else line) == tag:
                            break
                        body.append(line)
                    if is_py:
                        self.python.append(("\n".join(body), self.where))
                heredocs = []
                continue
            if closer == "`" and c == "`":
                flush()
                return toks, j + 1, ln
            if c == "#" and not word and not parts:
                k = s.find("\n", j)
                j = n if k < 0 else k
                continue
            if c in " \t":
                flush()
                j += 1
                continue
            if c == "\\":
                if s.startswith("\\\n", j):
                    ln += 1
                else:
                    word += s[j + 1:j + 2]
                j += 2
                continue
            if c == "'":
                k = s.find("'", j + 1)
                k = n if k < 0 else k
                inner = s[j + 1:k]
                ln += inner.count("\n")
                word += inner
                parts.append("sq")
                j = k + 1
                continue
            if c == '"':
                j += 1
                while j < n and s[j] != '"':
                    if s[j] == "\\":
                        word += s[j + 1:j + 2]
                        j += 2
                    elif s.startswith("$((", j):
                        k = self.arith_end(s, j + 3)
                        word += s[j:k]
                        j = k
                    elif s.startswith("$(", j):
                        j, ln = sub(j + 2, ln, ")")
                        word += "$SUBST"
                    elif s[j] == "`":
                        j, ln = sub(j + 1, ln, "`")
                        word += "$SUBST"
                    else:
                        ln += s[j] == "\n"
                        word += s[j]
                        j += 1
                parts.append("dq")
                j += 1
                continue
            if s.startswith("$((", j):
                k = self.arith_end(s, j + 3)
                word += s[j:k]
                j = k
                continue
            if s.startswith("$(", j) or s.startswith("<(", j) or s.startswith(">(", j):
                j, ln = sub(j + 2, ln, ")")
                word += "$SUBST"
                continue
            if c == "`":
                j, ln = sub(j + 1, ln, "`")
                word += "$SUBST"
                continue
            if not word and not parts and (s.startswith("[[", j) or s.startswith("((", j)):
                # a test or arithmetic: no commands inside worth finding
                end = "]]" if c == "[" else "))"
                k = s.find(end, j + 2) if c == "[" else self.arith_end(s, j + 2) - 2
                k = n if k < 0 else k
                ln += s.count("\n", j, k)
                toks.append(("word", c * 2, ln, ()))
                j = k + 2
                continue
            if s.startswith("<<", j) and not s.startswith("<<<", j):
                flush()
                m = re.match(r"<<(-?)\s*(['\"]?)([A-Za-z_][A-Za-z0-9_]*)\2", s[j:])
                if m:
                    prev = []
                    for t in reversed(toks):
                        if t[0] == "op" and t[1] == "\n":
                            break
                        if t[0] == "word":
                            prev.append(t[1])
                    is_py = any("PYTHON" in w or os.path.basename(w).startswith("python")
                                for w in prev)
                    heredocs.append((m.group(3), m.group(1) == "-", is_py))
                    j += m.end()
                    continue
            if c in ";|&()<>":
                flush()
                if closer == ")":
                    if c == "(":
                        depth += 1
                    elif c == ")":
                        if depth == 0:
                            return toks, j + 1, ln
                        depth -= 1
                op = c
                for two in (";;", "&&", "||", ">>", "&>", ">&", "<&", "|&", "<<<"):
                    if s.startswith(two, j) and len(two) > len(op):
                        op = two
                toks.append(("op", op, ln))
                j += len(op)
                continue
            word += c
            j += 1
        flush()
        return toks, j, ln

    @staticmethod
    def arith_end(s, j):
        """The index after the '))' closing an arithmetic expansion whose
        text starts at j."""
        depth = 0
        while j < len(s):
            if s[j] == "(":
                depth += 1
            elif s[j] == ")":
                if depth == 0:
                    return j + 2 if s.startswith("))", j) else j + 1
                depth -= 1
            j += 1
        return len(s)

    # -- command positions --------------------------------------------------
    def commands(self, toks):
        pos = True
        skip = 0
        in_case = pattern = False
        words = []   # the current simple command's words
        redirect = False
        for t in toks:
            if t[0] == "op":
                op = t[1]
                if op in ("<", ">", ">>", "&>", ">&", "<&", "<<<"):
                    redirect = True
                    continue
                if in_case and pattern:
                    if op == ")":
                        pattern = False
                        pos = True
                    continue
                if op == ";;":
                    pattern = True
                    continue
                if op == "(" and words and len(words) == 1 and pos is False:
                    # name() { ... }: a function definition
                    self.funcs.add(words[-1][0])
                    if self.cmds and self.cmds[-1][0] == words[-1][0]:
                        self.cmds.pop()
                if op in ("\n", ";", "|", "||", "&&", "&", "|&", "(", ")"):
                    pos = True
                    words = []
                    skip = 0
                continue
            w, ln, parts = t[1], t[2], t[3]
            if redirect:
                redirect = False
                continue
            if in_case and w == "esac":
                in_case = pattern = False
                continue
            if in_case and not pattern and w == "in" and not pos:
                pattern = True
                continue
            if pattern:
                continue
            words.append((w, parts))
            # python -c CODE, bash -c CODE
            if len(words) >= 3 and words[-2][0] == "-c":
                prog = os.path.basename(words[-3][0])
                if "PYTHON" in words[-3][0] or prog.startswith("python"):
                    self.python.append((w, self.where))
                elif prog in ("bash", "sh"):
                    self.shell(w, self.where, ln)
            if not pos:
                continue
            if skip:
                skip -= 1
                continue
            if w == "case":
                in_case = True
                pos = False
                continue
            if w in PREFIX:
                if w in EXTERNAL_PREFIX:
                    self.cmds.append((w, "%s:%d" % (self.where, ln)))
                continue
            if re.match(r"^[0-9]+$", w):
                continue   # xargs -P 2 CMD: no command is a number
            if w in PREFIX_ARG:
                self.cmds.append((w, "%s:%d" % (self.where, ln)))
                skip = PREFIX_ARG[w]
                continue
            if w in RESERVED:
                pos = False
                continue
            if re.match(r"^[A-Za-z_][A-Za-z0-9_]*(\[[^]]*\])?\+?=", w):
                continue   # an assignment before the command
            pos = w == "xargs"   # xargs [-opts] CMD
            if not w or w.startswith("-") or "$" in w or w.startswith("@"):
                continue
            self.cmds.append((w, "%s:%d" % (self.where, ln)))

    def file(self, path, rel):
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
        if path.endswith(".md"):
            self.markdown(text, rel)
        elif path.endswith(".py"):
            self.python.append((text, rel))
        else:
            self.shell(text, rel)

    def markdown(self, text, rel):
        for m in re.finditer(r"^```(\w+)\n(.*?)^```", text, re.M | re.S):
            lang, body = m.group(1), m.group(2)
            ln = text.count("\n", 0, m.start()) + 2
            if lang in ("sh", "bash", "shell"):
                self.shell(body, rel, ln)
            elif lang == "python":
                self.python.append((body, rel))


def modules(code):
    """Top-level modules imported by Python code (a regex: the code may be
    a fragment)."""
    out = set()
    for m in re.finditer(r"(?:^|;)\s*(?:from\s+([A-Za-z_][\w.]*)\s+import|import\s+([^#;\n]+))",
                         code, re.M):
        if m.group(1):
            if not m.group(1).startswith("."):
                out.add(m.group(1).split(".")[0])
        else:
            for part in m.group(2).split(","):
                name = part.strip().split(" ")[0]
                if re.match(r"^[A-Za-z_][\w.]*$", name):
                    out.add(name.split(".")[0])
    return out


def candidates(path):
    """Paths dpkg may know a found file by (merged /usr, symlinks)."""
    out = []
    for c in (path, os.path.realpath(path)):
        out.append(c)
        out.append(re.sub(r"^/usr(/s?bin/)", r"\1", c))
        out.append(re.sub(r"^/(s?bin/)", r"/usr/\1", c))
    return list(dict.fromkeys(out))


def owners(paths):
    """{path: package} for the paths dpkg knows (one dpkg -S call)."""
    if not paths:
        return {}
    r = subprocess.run(["dpkg", "-S"] + sorted(paths), capture_output=True, text=True)
    out = {}
    for line in r.stdout.splitlines():
        pkgs, _, owned = line.partition(": ")
        if owned in paths and not pkgs.startswith("diversion "):
            out[owned] = pkgs.split(",")[0].split(":")[0].strip()
    return out


def installed():
    """{package: (dependencies, essential, priority)} and {virtual:
    [providers]} of the installed packages (one dpkg-query call)."""
    r = subprocess.run(["dpkg-query", "-W", "-f=${Package}\t${Status}\t${Essential}\t"
                        "${Priority}\t${Pre-Depends}, ${Depends}\t${Provides}\n"],
                       capture_output=True, text=True)
    pk, prov = {}, {}
    for line in r.stdout.splitlines():
        name, status, ess, prio, deps, provides = (line.split("\t") + [""] * 6)[:6]
        if not status.endswith(" installed"):
            continue
        alts = []
        for d in deps.split(","):
            names = [re.sub(r"[ (:].*", "", a.strip()) for a in d.split("|")]
            names = [x for x in names if x]
            if names:
                alts.append(names)
        pk[name] = (alts, ess == "yes", prio)
        for v in provides.split(","):
            v = re.sub(r"[ (].*", "", v.strip())
            if v:
                prov.setdefault(v, []).append(name)
    return pk, prov


def closure(listed, pk, prov):
    """What apt-get install --no-install-recommends of the listed packages
    brings: them and all they depend on (as installed here)."""
    seen, todo = set(), list(listed)
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        if p not in pk:
            todo.extend(prov.get(p, [])[:1])
            continue
        for alts in pk[p][0]:
            have = [a for a in alts if a in pk or a in prov]
            todo.extend(have[:1])
    return seen


def main(argv):
    root, deps, listing = None, None, False
    args = iter(argv[1:])
    for a in args:
        if a == "--install-deps":
            deps = next(args)
        elif a == "--list":
            listing = True
        else:
            root = a
    root = os.path.abspath(root or ".")
    deps = deps or os.path.join(root, "scripts/install-deps.sh")
    m = re.search(r'^pkgs="([^"]*)"', open(deps).read(), re.M)
    if not m:
        print("deps: %s: no pkgs=\"...\" list" % deps)
        return 1
    listed = set(m.group(1).split())

    ex = Extract()
    files = []
    for pat in ("tests/*.bats", "tests/*.bash", "tests/run.sh", "tests/ref/*.sh",
                "tests/ref/*.py", "pipelines/*.sh", "docs/*.md"):
        files += sorted(glob.glob(os.path.join(root, pat)))
    for f in files:
        ex.file(f, os.path.relpath(f, root))

    # what is not an external program: builtins, keywords, functions of
    # the files and of bats with its libraries, the project's own programs
    r = subprocess.run(["bash", "-c", "compgen -b; compgen -k"],
                       capture_output=True, text=True)
    ignore = set(r.stdout.split()) | ex.funcs
    r = subprocess.run(
        ["bash", "-c", "for f in /usr/lib/bats/*/load.bash /usr/lib/bats/*/src/*.bash "
         "/usr/lib/bats-core/*.bash; do . \"$f\" >/dev/null 2>&1; done; "
         "compgen -A function"], capture_output=True, text=True)
    ignore |= set(r.stdout.split())
    ignore |= {"run", "skip", "load", "fail", "setup", "teardown", "setup_file",
               "teardown_file", "bats_require_minimum_version", "bats_load_library"}
    own = {os.path.basename(p)[:-2] for p in glob.glob(os.path.join(root, "filters/*.c"))}
    for d in ("scripts", "pipelines", "tests/ref"):
        own |= {os.path.basename(p) for p in glob.glob(os.path.join(root, d, "*"))}

    problems, found = [], {}   # found: what -> (path, where)
    for name, where in ex.cmds:
        if name in ignore or name in own or name in found:
            continue
        if "/" in name and not name.startswith("/"):
            continue   # a relative path: the project's own file
        if not re.match(r"^[\w./+-]+$", name):
            continue
        path = name if name.startswith("/") else None
        if not path:
            # where Debian puts programs, not this machine's PATH (pyenv,
            # /usr/local): the question is which package provides it
            r = subprocess.run(["bash", "-c", 'PATH=$2 type -P -- "$1"', "_", name,
                                "/usr/sbin:/usr/bin:/sbin:/bin"],
                               capture_output=True, text=True)
            path = r.stdout.strip() or None
        if not path or not os.path.exists(path):
            problems.append("deps: %s (%s): not found in /usr/sbin:/usr/bin:/sbin:/bin"
                            % (name, where))
            continue
        found[name] = (path, where)

    import importlib.util
    local = {os.path.basename(p)[:-3] for p in glob.glob(os.path.join(root, "tests/ref/*.py"))}
    for f in files:   # modules the tests write themselves (stream_format.py)
        if not f.endswith(".py"):
            local |= set(re.findall(r"([A-Za-z_]\w*)\.py\b",
                                    open(f, errors="replace").read()))
    for code, where in ex.python:
        for mod in sorted(modules(code)):
            key = "py:" + mod
            if key in found or mod in local or mod in sys.stdlib_module_names:
                continue
            spec = importlib.util.find_spec(mod)
            origin = spec and (spec.origin if spec.origin not in (None, "namespace")
                               else list(spec.submodule_search_locations or [None])[0])
            if not origin:
                problems.append("deps: python module %s (%s): not importable here" %
                                (mod, where))
                continue
            found[key] = (origin, where)

    pk, prov = installed()
    provided = closure(listed, pk, prov)
    allpaths = set()
    for path, _ in found.values():
        allpaths |= set(candidates(path))
    owner = owners(allpaths)
    result = {}
    for what, (path, where) in sorted(found.items()):
        pkg = next((owner[c] for c in candidates(path) if c in owner), None)
        if not pkg:
            how = None
        elif pkg in listed:
            how = "listed"
        elif pkg in pk and (pk[pkg][1] or pk[pkg][2] == "required"):
            how = "essential/required"
        elif pkg in provided:
            how = "dependency of a listed package"
        else:
            how = None
        result[what] = (pkg, how, where)
        if not pkg:
            problems.append("deps: %s (%s): %s belongs to no Debian package" %
                            (what, where, path))
        elif not how:
            problems.append("deps: %s (%s): %s is in package %s, which "
                            "install-deps.sh does not install" % (what, where, path, pkg))
    if listing:
        for k, (pkg, how, where) in sorted(result.items()):
            print("%s\t%s\t%s\t%s" % (k, pkg, how or "MISSING", where))
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
