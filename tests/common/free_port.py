"""Print a free loopback port below the ephemeral range (so a client's outgoing connection cannot
take it between this check and the server's bind). Used by the service scripts under tests/."""
import random
import socket

low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
for _ in range(200):
    p = random.randint(20000, low - 1)
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p))
        s.close()
        print(p)
        break
    except OSError:
        s.close()
