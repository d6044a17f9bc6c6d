"""Aim a projectile with air drag: a data-dependent ``while`` under jit, differentiated.

``landing_distance`` integrates the flight step by step *until the projectile
lands*, a plain Python ``while`` on array values: ``s2s.jit`` compiles it to one
XLA while loop (JAX would need ``lax.while_loop`` written by hand), and
``s2s.grad`` differentiates through it. Newton's method on the launch angle, with
that derivative, finds the angle that lands on a target. The script prints the
derivative source s2s wrote for the step function and writes the trajectories to
``projectile.png`` in the current directory.

Run: python examples/projectile.py [--target METRES]
(needs the ``examples`` extra: pip install '.[examples]')
"""
import argparse
import os

import numpy as onp

import s2s
import s2s.numpy as np

SPEED = 30.0     # launch speed, m/s
DRAG = 0.02      # quadratic drag per unit mass, 1/m
GRAVITY = 9.81   # m/s^2
DT = 0.01        # time step, s


def step(x, y, vx, vy):
    """One semi-implicit Euler step under gravity and quadratic drag."""
    speed = np.sqrt(vx * vx + vy * vy)
    vx = vx - DT * DRAG * speed * vx
    vy = vy - DT * (GRAVITY + DRAG * speed * vy)
    return x + DT * vx, y + DT * vy, vx, vy


def landing_distance(angle):
    """Where the projectile launched at ``angle`` (radians) comes back to height 0."""
    x, y = 0.0 * angle, 0.0 * angle
    vx, vy = SPEED * np.cos(angle), SPEED * np.sin(angle)
    x_prev, y_prev = x, y
    while y >= 0.0:
        x_prev, y_prev = x, y
        x, y, vx, vy = step(x, y, vx, vy)
    # The crossing of y = 0 between the last two points: smooth in the angle.
    return x_prev + (x - x_prev) * y_prev / (y_prev - y)


def trajectory(angle):
    """The points of the flight (eager, for the plot)."""
    x, y = 0.0, 0.0
    vx, vy = SPEED * onp.cos(angle), SPEED * onp.sin(angle)
    points = [(x, y)]
    while y >= 0.0:
        x, y, vx, vy = (float(v) for v in step(x, y, vx, vy))
        points.append((x, y))
    return onp.array(points)


def aim(target, angle=0.3, steps=10, tol=1e-3, log=print):
    """Newton's method on landing_distance(angle) = target; returns the angles tried."""
    distance = s2s.jit(landing_distance)
    slope = s2s.jit(s2s.grad(landing_distance))
    angles = [angle]
    for i in range(steps):
        miss = float(distance(angle)) - target
        log(f"step {i}: angle {onp.degrees(angle):6.2f} deg lands at {miss + target:7.3f} m "
            f"(miss {miss:+.4f} m)")
        if abs(miss) < tol:
            break
        angle = angle - miss / float(slope(angle))
        angles.append(angle)
    return angles


def step_derivative_source():
    """The functions s2s generated for ``step`` within ``grad(landing_distance)``: the
    forward part (which records what the backward part needs) and the backward part."""
    blocks, current = [], []
    for line in s2s.source(s2s.grad(landing_distance)).splitlines():
        if line.startswith("def ") and current:
            blocks.append(current)
            current = []
        current.append(line)
    blocks.append(current)
    return "\n".join("\n".join(b) for b in blocks if b[0].split("(")[0].endswith("_step"))


def plot(angles, target, path):
    """The flights for each Newton iterate and the target, written as a PNG to ``path``."""
    import matplotlib
    matplotlib.use("Agg")  # no window: the picture goes to a file
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 3.5))
    for i, angle in enumerate(angles):
        points = trajectory(angle)
        last = i == len(angles) - 1
        ax.plot(points[:, 0], onp.maximum(points[:, 1], 0.0), lw=2 if last else 1,
                alpha=1.0 if last else 0.4, label=f"{onp.degrees(angle):.2f} deg")
    ax.axvline(target, color="k", ls="--", label="target")
    ax.set(xlabel="distance (m)", ylabel="height (m)",
           title="Newton's method on the launch angle, through a jit-compiled while loop")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", type=float, default=40.0)
    args = parser.parse_args(argv)
    print("The derivative s2s wrote for the step function:\n")
    print(step_derivative_source())
    angles = aim(args.target)
    path = os.path.abspath("projectile.png")
    plot(angles, args.target, path)
    print(f"plot written to {path}")
    return angles


if __name__ == "__main__":
    main()
