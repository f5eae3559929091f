# Thread-per-CUDA-thread CPU emulation of the CUDA subset the attention kernels use (tools/cuda_emu/run_attention.sh).
import re, sys
src = open(sys.argv[1]).read()
src = re.sub(r'extern __shared__ __align__\(\d+\) unsigned char smem\[\];', 'unsigned char* smem = emu::dynamic_shared();', src)
src = re.sub(r'__shared__ (\w+) (\w+)\[(\w+)\];', r'\1* \2 = emu::static_shared<\1>(\3);', src)
out = []
i = 0
while True:
    j = src.find('<<<', i)
    if j < 0:
        out.append(src[i:]); break
    # scan back over the kernel name (optional template args, identifiers, ::)
    k = j
    if src[k-1] == '>':
        depth = 0
        k -= 1
        while True:
            if src[k] == '>': depth += 1
            elif src[k] == '<':
                depth -= 1
                if depth == 0: break
            k -= 1
    while k > 0 and (src[k-1].isalnum() or src[k-1] in '_:'):
        k -= 1
    e = src.find('>>>(', j)
    name = src[k:j]
    cfg = src[j+3:e]
    out.append(src[i:k])
    out.append('emu::launch(' + name + ', ' + cfg + ')(')
    i = e + 4
open(sys.argv[2], 'w').write(''.join(out))
