set -x
cd /work/main/.scratch
cp e.img r.img
L=$(losetup -f --show r.img)
mkdir -p m2
mount -t ntfs3 $L m2 && echo hi > m2/x.txt && umount m2
losetup -d $L
dd if=r.img bs=1 skip=$((0x1400*4096)) count=96 2>/dev/null | od -A x -t x1z | head
ls /sys/module | grep -i ntfs
