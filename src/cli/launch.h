// `adapterbias train --nproc N`: starts N local workers of this program the way torchrun does (RANK,
// WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR=127.0.0.1, a free MASTER_PORT; OMP_NUM_THREADS split
// between them unless set), forwards SIGINT/SIGTERM to them, and when one fails stops the others.
#pragma once
#include <string>
#include <vector>

namespace adapterbias::cli {

// The program's own arguments, recorded by main.
void set_program_arguments(int argc, char** argv);
const std::vector<std::string>& program_arguments();

// Runs `arguments` (argv[0] first) as `workers` ranks and waits for them; returns the exit code for the
// launcher: 0 when all succeeded, else the first failure's (128 + signal for a killed worker).
int launch_workers(int workers, const std::vector<std::string>& arguments);

}  // namespace adapterbias::cli
