"""GLSL 3.30 programs of the offscreen renderer (`face3d.viewer.gl`).

Both programs share the vertex shader, whose inputs are the per-corner attributes `gl` uploads
(position, uv, smooth normal, barycentric). The surface program draws the textured (or clay) mesh
with optional Lambert shading; the wireframe program draws its visible edges as a premultiplied
RGBA layer.
"""

from __future__ import annotations

VERTEX_SHADER = """
#version 330
uniform mat4 clip;
in vec3 in_position;
in vec2 in_uv;
in vec3 in_normal;
in vec3 in_barycentric;
out vec2 v_uv;
out vec3 v_normal;
out vec3 v_barycentric;
void main() {
    gl_Position = clip * vec4(in_position, 1.0);
    v_uv = in_uv;
    v_normal = in_normal;
    v_barycentric = in_barycentric;
}
"""

SURFACE_SHADER = """
#version 330
uniform sampler2D texture0;
uniform bool textured;
uniform vec3 base_color;
uniform float lighting;
uniform vec3 light_direction;
uniform vec3 toward;
in vec2 v_uv;
in vec3 v_normal;
in vec3 v_barycentric;
out vec4 f_color;
void main() {
    // OBJ's v runs up from the image's bottom; the texture is uploaded top row first.
    vec3 color = textured ? texture(texture0, vec2(v_uv.x, 1.0 - v_uv.y)).rgb : base_color;
    vec3 normal = normalize(v_normal);
    if (dot(normal, toward) < 0.0) {
        normal = -normal;  // an inside surface seen through an opening
    }
    float lambert = 0.45 + 0.65 * max(dot(normal, light_direction), 0.0);
    f_color = vec4(clamp(color * mix(1.0, lambert, lighting), 0.0, 1.0), 1.0);
}
"""

WIREFRAME_SHADER = """
#version 330
uniform vec4 line_color;
uniform float line_width;
uniform float fill_opacity;
in vec2 v_uv;
in vec3 v_normal;
in vec3 v_barycentric;
out vec4 f_color;
void main() {
    vec3 change = fwidth(v_barycentric);  // about 1 / (the triangle's size in pixels)
    vec3 ramp = smoothstep(vec3(0.0), change * line_width, v_barycentric);
    float edge = 1.0 - min(min(ramp.x, ramp.y), ramp.z);
    // Full lines on triangles over ~7 px across, none under ~2 px.
    float sparse = smoothstep(0.5, 0.15, max(max(change.x, change.y), change.z));
    float alpha = max(line_color.a * edge * sparse, fill_opacity);
    f_color = vec4(line_color.rgb * alpha, alpha);  // premultiplied
}
"""
