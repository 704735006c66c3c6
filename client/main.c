/* helpline: the command-line client. Its commands arrive with the client issue; until
 * then it says so instead of pretending. */
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        printf("usage: helpline COMMAND [ARGS...]\n\n"
               "The client's commands (log, show, update, classify, taxonomy, stats, report)\n"
               "are not part of this build yet; see ../shared/api.md for what they will be.\n");
        return 0;
    }
    fprintf(stderr, "helpline: this build has no client commands yet (see helpline --help)\n");
    return 2;
}
