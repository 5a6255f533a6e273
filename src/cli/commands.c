/* commands.c -- the table of sentinel's subcommands. */
#include <string.h>

#include "cli/cli.h"

const cli_command_t *const cli_commands[] = {
    &cli_migrate_command,     &cli_gen_command,     &cli_publish_command, &cli_project_command,
    &cli_replay_command,      &cli_rebuild_command, &cli_status_command,  &cli_dead_letters_command,
    &cli_verify_command,      &cli_usage_command,   &cli_schemas_command, &cli_projectors_command,
    &cli_credentials_command, &cli_ingest_command,  &cli_doctor_command,  NULL,
};

const cli_command_t *cli_command_find(const char *name) {
    for (size_t i = 0; cli_commands[i]; i++)
        if (!strcmp(cli_commands[i]->name, name)) return cli_commands[i];
    return NULL;
}
