/* embedded.c -- finding the image `wasmc build --exe` put into the runner.
 *
 * wasmc adds the slice image to a copy of the runner as a non-loaded ELF
 * section named ".wasmc_image" (with lief; no C toolchain at build time).
 * At start-up the runner reads its own section headers from
 * /proc/self/exe -- qemu-user presents the guest binary there too -- and
 * maps the section's bytes like any other image (the loader checks the
 * descriptor as for an image from a .wasmu).  Every header field read here
 * is range-checked against the file size.
 */
#include <elf.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runner.h"

#define SECTION_NAME ".wasmc_image"

static int read_at(int fd, void *buf, size_t n, uint64_t off) {
    size_t done = 0;
    while (done < n) {
        ssize_t r = pread(fd, (char *)buf + done, n - done, (off_t)(off + done));
        if (r <= 0) return 0;
        done += (size_t)r;
    }
    return 1;
}

int rn_find_embedded(const char *exe, uint64_t *offset, uint64_t *size) {
    int fd = open(exe, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    int found = 0;
    struct stat st;
    Elf64_Ehdr eh;
    if (fstat(fd, &st) != 0 || !read_at(fd, &eh, sizeof eh, 0) || memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
        eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_shentsize != sizeof(Elf64_Shdr) || eh.e_shnum == 0 ||
        eh.e_shstrndx >= eh.e_shnum || eh.e_shoff > (uint64_t)st.st_size ||
        (uint64_t)eh.e_shnum * sizeof(Elf64_Shdr) > (uint64_t)st.st_size - eh.e_shoff)
        goto done;
    Elf64_Shdr *sh = malloc((size_t)eh.e_shnum * sizeof *sh);
    if (!sh) goto done;
    if (!read_at(fd, sh, (size_t)eh.e_shnum * sizeof *sh, eh.e_shoff)) goto out;
    const Elf64_Shdr *strtab = &sh[eh.e_shstrndx];
    if (strtab->sh_offset > (uint64_t)st.st_size || strtab->sh_size > (uint64_t)st.st_size - strtab->sh_offset ||
        strtab->sh_size > (1u << 20))
        goto out;
    char *names = malloc(strtab->sh_size + 1);
    if (!names) goto out;
    if (read_at(fd, names, strtab->sh_size, strtab->sh_offset)) {
        names[strtab->sh_size] = 0;
        for (unsigned i = 0; i < eh.e_shnum; i++) {
            if (sh[i].sh_name >= strtab->sh_size || strcmp(names + sh[i].sh_name, SECTION_NAME) != 0) continue;
            if (sh[i].sh_type == SHT_NOBITS || sh[i].sh_offset > (uint64_t)st.st_size ||
                sh[i].sh_size > (uint64_t)st.st_size - sh[i].sh_offset)
                break;
            *offset = sh[i].sh_offset;
            *size = sh[i].sh_size;
            found = 1;
            break;
        }
    }
    free(names);
out:
    free(sh);
done:
    close(fd);
    return found;
}
