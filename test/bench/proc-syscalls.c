/*
 * What reading /proc costs per process, by system call pattern (the numbers behind src/native/proc-scan.c's design).
 * Built and run on a lab guest by test/bench/lab-proc-syscalls.mts; runs natively as well:
 *   gcc -O2 -o /tmp/proc-syscalls test/bench/proc-syscalls.c && /tmp/proc-syscalls
 * CPU time of this process (getrusage) over 20 passes, divided per process.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>
static double cpu(void){ struct rusage r; getrusage(RUSAGE_SELF,&r); return r.ru_utime.tv_sec*1e6+r.ru_utime.tv_usec+r.ru_stime.tv_sec*1e6+r.ru_stime.tv_usec; }
int pids[4096]; int np=0;
int main(){ char buf[4096], path[64]; DIR*d=opendir("/proc"); struct dirent*e; while((e=readdir(d))) if(e->d_name[0]>='0'&&e->d_name[0]<='9') pids[np++]=atoi(e->d_name); closedir(d);
 int R=20; double a;
 a=cpu(); for(int r=0;r<R;r++){ DIR*d=opendir("/proc"); while((e=readdir(d))){} closedir(d);} printf("readdir /proc (%d entries): %.0f us\n", np, (cpu()-a)/R);
 a=cpu(); for(int r=0;r<R;r++) for(int i=0;i<np;i++){ snprintf(path,64,"/proc/%d/stat",pids[i]); int fd=open(path,O_RDONLY); if(fd<0)continue; while(read(fd,buf,4096)>0){} close(fd);} printf("stat open+read-to-EOF+close: %.1f us/file\n", (cpu()-a)/R/np);
 a=cpu(); for(int r=0;r<R;r++) for(int i=0;i<np;i++){ snprintf(path,64,"/proc/%d/stat",pids[i]); int fd=open(path,O_RDONLY); if(fd<0)continue; read(fd,buf,4096); close(fd);} printf("stat open+1 read+close: %.1f us/file\n", (cpu()-a)/R/np);
 int pfd=open("/proc",O_RDONLY|O_DIRECTORY);
 a=cpu(); for(int r=0;r<R;r++) for(int i=0;i<np;i++){ snprintf(path,64,"%d/stat",pids[i]); int fd=openat(pfd,path,O_RDONLY); if(fd<0)continue; read(fd,buf,4096); close(fd);} printf("stat openat(procfd)+1 read+close: %.1f us/file\n", (cpu()-a)/R/np);
 a=cpu(); for(int r=0;r<R;r++) for(int i=0;i<np;i++){ snprintf(path,64,"%d/statm",pids[i]); int fd=openat(pfd,path,O_RDONLY); if(fd<0)continue; read(fd,buf,4096); close(fd);} printf("statm openat(procfd)+1 read+close: %.1f us/file\n", (cpu()-a)/R/np);
 int fds[4096]; for(int i=0;i<np;i++){ snprintf(path,64,"%d/statm",pids[i]); fds[i]=openat(pfd,path,O_RDONLY);} 
 a=cpu(); for(int r=0;r<R;r++) for(int i=0;i<np;i++){ if(fds[i]<0)continue; pread(fds[i],buf,4096,0);} printf("statm pread on open fd: %.1f us/file\n", (cpu()-a)/R/np);
 for(int i=0;i<np;i++){ if(fds[i]>=0) close(fds[i]); snprintf(path,64,"%d/stat",pids[i]); fds[i]=openat(pfd,path,O_RDONLY);} 
 a=cpu(); for(int r=0;r<R;r++) for(int i=0;i<np;i++){ if(fds[i]<0)continue; pread(fds[i],buf,4096,0);} printf("stat pread on open fd: %.1f us/file\n", (cpu()-a)/R/np);
 struct timespec ts; a=cpu(); for(int i=0;i<2000;i++) clock_gettime(CLOCK_MONOTONIC,&ts); printf("clock_gettime: %.1f us\n", (cpu()-a)/2000);
 a=cpu(); for(int r=0;r<R*5;r++){ int fd=open("/proc/stat",O_RDONLY); while(read(fd,buf,4096)>0){} close(fd);} printf("/proc/stat: %.0f us\n", (cpu()-a)/R/5);
 a=cpu(); for(int r=0;r<R*5;r++){ int fd=open("/proc/loadavg",O_RDONLY); read(fd,buf,4096); close(fd);} printf("/proc/loadavg: %.0f us\n", (cpu()-a)/R/5);
}
