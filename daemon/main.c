/*
 * main.c - taskringd's entry point. Kept thin: unit tests link every other
 * daemon object.
 */
#include "proctitle.h"
#include "taskringd.h"

int main(int argc, char **argv)
{
	tr_proctitle_init(argc, argv);
	return tr_taskringd_main(argc, argv);
}
