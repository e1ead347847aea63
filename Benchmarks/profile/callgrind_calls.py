#!/usr/bin/env python3
"""Sums the calls made to a function in a callgrind output file.

    callgrind_calls.py FILE FUNCTION[,FUNCTION...]   (prints the calls to the first one called)

callgrind.sh uses it to count epoll_wait calls (wake-ups) per request (Bascule makes the
system call from its shim's cl_epoll_wait; HAProxy and older builds through glibc's epoll_wait): in the close scenario
how many readiness events each connection's steps arrive in depends on timing (are the client's
data and FIN one event or two?), and each wake-up costs a few hundred instructions, so Ir per
request moves with the wake-ups per request from run to run; printing both shows which is which.
"""
import re
import sys


def main():
    path, wanted = sys.argv[1], sys.argv[2].split(",")
    names = {}      # callgrind compresses names: "(id) name" defines, "(id)" refers back
    target = None   # the function the current cfn= line names
    totals = {name: 0 for name in wanted}
    pattern = re.compile(r"^cfn=\((\d+)\)(?: (.*))?$")
    with open(path, errors="replace") as f:
        for line in f:
            if line.startswith("fn=") or line.startswith("cfn="):
                m = re.match(r"^c?fn=\((\d+)\)(?: (.*))?$", line.rstrip("\n"))
                if m and m.group(2) is not None:
                    names[m.group(1)] = m.group(2)
                m = pattern.match(line.rstrip("\n"))
                target = names.get(m.group(1)) if m else None
            elif line.startswith("calls=") and target in totals:
                totals[target] += int(line.split("=", 1)[1].split()[0])
    print(next((totals[name] for name in wanted if totals[name] > 0), 0))


if __name__ == "__main__":
    main()
