from django.urls import path

from checker import views

urlpatterns = [
    path("", views.checker_page, name="checker"),
    path("public/", views.public_page, name="checker_public"),
    path("public/export/", views.public_export, name="checker_public_export"),
    path("jobs/<str:job_id>/", views.job_page, name="checker_job"),
    path("jobs/<str:job_id>/progress/", views.job_progress, name="checker_job_progress"),
    path("jobs/<str:job_id>/export/", views.job_export, name="checker_job_export"),
    path("jobs/<str:job_id>/cancel/", views.job_cancel, name="checker_job_cancel"),
]
