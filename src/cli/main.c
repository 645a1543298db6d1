/* main.c — the cloudmux command: dispatches to one subcommand. */
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0) {
        fprintf(stderr, "usage: cloudmux serve|check --config FILE\n");
        return argc < 2 ? 2 : 0;
    }
    fprintf(stderr, "cloudmux: unknown command '%s'\n", argv[1]);
    return 2;
}
