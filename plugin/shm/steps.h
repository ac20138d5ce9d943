/* Named step points between the ring's shared-memory steps. Test builds
 * (-DSHM_STEPS: tests/steps/sage-shm.so) call a hook there, so a test can
 * block, yield or kill a party at an exact point; release builds compile
 * them to nothing. Names are "<operation>:<what just happened>". */
#ifndef SAGE_SHM_STEPS_H
#define SAGE_SHM_STEPS_H

#ifdef SHM_STEPS
void shm_step(const char *point);
int shm_test_no_proc(void);
/* Exported by test builds: fn(point, arg) runs at every step point. */
typedef void (*shm_step_fn)(const char *point, void *arg);
void sage_shm_set_step_hook(shm_step_fn fn, void *arg);
#define SHM_STEP(point) shm_step(point)
/* Test builds act as if /proc were missing when SAGE_SHM_TEST_NO_PROC is
 * set (fork handling's fallback). */
#define SHM_TEST_NO_PROC() shm_test_no_proc()
#else
#define SHM_STEP(point) ((void)0)
#define SHM_TEST_NO_PROC() 0
#endif

#endif /* SAGE_SHM_STEPS_H */
